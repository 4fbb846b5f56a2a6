"""Prepared statements: one name, one statement."""

import pytest

from geo_ops.db.prepared import PreparedStatement


def test_a_second_statement_under_a_taken_name_is_refused():
    first = PreparedStatement("tests_prepared_once", "SELECT %(a)s", {"a": "int"})
    # The same statement again (a module imported twice) is fine.
    again = PreparedStatement("tests_prepared_once", "SELECT %(a)s", {"a": "int"})
    assert again.prepare_sql == first.prepare_sql
    with pytest.raises(ValueError, match="already named 'tests_prepared_once'"):
        PreparedStatement("tests_prepared_once", "SELECT %(a)s + 1", {"a": "int"})
