"""Reads of the report core."""

import math
import re

from django.contrib.gis.geos import Point
from django.db import connection
from django.utils.translation import gettext as _

from .errors import IntakeError
from .models import Category, Report


def category_resolve(*, code: str) -> tuple[Category, Category | None]:
    """(top-level category, subcategory or None) for a category or subcategory code."""
    code = (code or "").strip()
    if not code:
        raise IntakeError("category", _("This field is required."), code="required")
    with connection.cursor() as cursor:
        _CATEGORY_STATEMENT.execute(cursor, {"code": code})
        row = cursor.fetchone()
    if row is None:
        raise IntakeError("category", _("Unknown category %(code)r.") % {"code": code}, "unknown")
    width = len(_CATEGORY_FIELDS)
    category = Category.from_db(connection.alias, _CATEGORY_FIELDS, row[:width])
    if category.parent_id:
        return Category.from_db(connection.alias, _CATEGORY_FIELDS, row[width:]), category
    return category, None


def point_from_coordinates(*, lon, lat) -> Point:
    """A WGS84 point from untrusted longitude and latitude (numbers or numeric strings)."""
    values = {}
    for field, raw, limit in (("lon", lon, 180), ("lat", lat, 90)):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise IntakeError(field, _("This field is required."), code="required")
        if isinstance(raw, bool):
            raise IntakeError(field, _("Must be a number."))
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise IntakeError(field, _("Must be a number.")) from None
        if not math.isfinite(value):
            raise IntakeError(field, _("Must be a finite number."))
        if not -limit <= value <= limit:
            raise IntakeError(
                field, _("Must be between %(low)s and %(high)s.") % {"low": -limit, "high": limit}
            )
        values[field] = value
    return Point(values["lon"], values["lat"], srid=4326)


def report_public_queryset():
    """Reports with what public responses show; never joins the reporter's contact."""
    return Report.objects.select_related("category", "subcategory", "branch")


class PreparedStatement:
    """A hot raw-SQL statement run as a server-side prepared statement.

    Why (bench/live_intake.py): psycopg2 sends every statement with its parameters inlined as
    literals, so PostgreSQL parses and plans the intake's big raw-SQL statements (the duplicate
    check, the boundary join, dispatch's candidates and writes) on every call, and that planning
    cost more than executing them. PREPARE once per database connection, then EXECUTE with the
    parameters: PostgreSQL keeps the plan (a generic one after the first executions, when it is
    not costlier than the custom plans; settings' `plan_cache_mode`).

    `sql` uses psycopg2's %(name)s placeholders; `types` gives each parameter's SQL type, so the
    server never has to infer one (and EXECUTE casts the literals explicitly). Prepared
    statements outlive a rolled-back transaction, and each connection (one per gunicorn thread)
    keeps its own; a new connection prepares again.
    """

    # Prepared again after this many executions on a connection: a generic plan is made with
    # the table sizes and statistics of its moment and kept until an ANALYZE; a plan made
    # while a table was nearly empty (a new deployment, the live-intake benchmark's fresh
    # database) would keep scanning it sequentially as it grows. One plan per 100 calls costs
    # about 1/100 of the planning that preparing saves.
    REPLAN_EVERY = 100

    _placeholder = re.compile(r"%\((\w+)\)s")

    def __init__(self, name: str, sql: str, types: dict[str, str]):
        self.name = name
        order = list(types)
        missing = set(self._placeholder.findall(sql)) - set(order)
        if missing:
            raise ValueError(f"{name}: no type for parameters {sorted(missing)}")
        body = self._placeholder.sub(lambda m: f"${order.index(m.group(1)) + 1}", sql)
        self.prepare_sql = (
            f"PREPARE {name} ({', '.join(types.values())}) AS {body.replace('%%', '%')}"
        )
        args = ", ".join(f"%({param})s::{sql_type}" for param, sql_type in types.items())
        self.execute_sql = f"EXECUTE {name} ({args})"

    def prepare(self, cursor) -> None:
        """PREPARE the statement on the cursor's connection unless it already has it."""
        wrapper = cursor.db
        raw = wrapper.connection
        state = getattr(wrapper, "_geo_ops_prepared", None)
        if state is None or state[0] is not raw:
            state = (raw, {})
            wrapper._geo_ops_prepared = state
        calls = state[1].pop(self.name, None)
        if calls is None:
            cursor.execute(self.prepare_sql)
            calls = 0
        elif calls >= self.REPLAN_EVERY:
            cursor.execute(f"DEALLOCATE {self.name}; {self.prepare_sql}")
            calls = 0
        state[1][self.name] = calls + 1

    def execute(self, cursor, params: dict) -> None:
        """Run the statement on `cursor` (a Django cursor) with `params`; fetch as usual."""
        self.prepare(cursor)
        cursor.execute(self.execute_sql, params)


# Every intake resolves its category: the (sub)category with its parent in one prepared
# statement, the rows turned into models without compiling an ORM query each time (the
# select_related query's compilation was a visible share of intake's Python time).
_CATEGORY_FIELDS = [field.attname for field in Category._meta.concrete_fields]
_CATEGORY_COLUMNS = [field.column for field in Category._meta.concrete_fields]
_CATEGORY_STATEMENT = PreparedStatement(
    "geo_ops_category_resolve",
    "SELECT "
    + ", ".join([f'c."{column}"' for column in _CATEGORY_COLUMNS])
    + ", "
    + ", ".join([f'p."{column}"' for column in _CATEGORY_COLUMNS])
    + """
    FROM reports_category AS c LEFT JOIN reports_category AS p ON p.id = c.parent_id
    WHERE c.code = %(code)s AND c.active""",
    {"code": "text"},
)
