"""The row rules are declared once (geo_ops.reports.rules): intake and the bulk import refuse the
same values, intake with the rule's field and code, the import with the rule's reason."""

import pytest
from django.contrib.gis.geos import Point
from django.utils import translation

from geo_ops.reports import rules
from geo_ops.reports.bulk import reports_import
from geo_ops.reports.errors import IntakeError
from geo_ops.reports.models import Category
from geo_ops.reports.selectors import point_from_coordinates
from geo_ops.reports.services import report_create
from tests.conftest import DAMMAM_CORNICHE, OPEN_GULF
from tests.reports.test_import_reports import read_rejects, reason_codes, row, write_csv

pytestmark = pytest.mark.django_db


def intake_error(**overrides) -> IntakeError:
    values = {
        "category_code": "pothole",
        "location": Point(*DAMMAM_CORNICHE, srid=4326),
        "channel": "app",
        "description": "Deep pothole",
        "actor_label": "test",
    }
    values.update(overrides)
    with pytest.raises(IntakeError) as raised:
        report_create(**values)
    return raised.value


def import_reasons(tmp_path, **fields) -> list[str]:
    path = write_csv(tmp_path / "rows.csv", [row("R-1", **fields)])
    summary = reports_import(
        path=path, commit=False, rejects_path=tmp_path / "rejects.csv", actor_label="test"
    )
    assert summary.rejected == 1
    return reason_codes(read_rejects(tmp_path / "rejects.csv")["R-1"]["reason"])


@pytest.mark.parametrize(
    ("rule", "intake", "row_fields"),
    [
        (rules.CATEGORY_MISSING, {"category_code": ""}, {"category": ""}),
        (rules.CATEGORY_UNKNOWN, {"category_code": "no_such"}, {"category": "no_such"}),
        (rules.CHANNEL, {"channel": "fax"}, {"channel": "fax"}),
        (rules.DESCRIPTION, {"description": "x" * 41}, {"description": "x" * 41}),
        (
            rules.SERVICE_AREA,
            {"location": Point(*OPEN_GULF, srid=4326)},
            {"point": OPEN_GULF},
        ),
    ],
    ids=lambda value: value.reason if isinstance(value, rules.Rule) else "",
)
def test_intake_and_import_refuse_the_same_values(tmp_path, settings, rule, intake, row_fields):
    settings.GEO_OPS_DESCRIPTION_MAX_CHARS = 40  # both read the setting when they check
    error = intake_error(**intake)
    assert (error.field, error.code) == (rule.field, rule.code)
    assert import_reasons(tmp_path, **row_fields) == [rule.reason]


def test_a_subcategory_of_a_category_no_longer_in_use_is_refused_by_both(tmp_path):
    """Intake used to check only the subcategory's own flag; now the one rule of both (and of
    Open311's list of services): the parent must be in use too."""
    Category.objects.filter(code="roads_networks").update(active=False)
    error = intake_error(category_code="pothole")
    assert (error.field, error.code) == ("category", "unknown")
    assert import_reasons(tmp_path) == [rules.CATEGORY_INACTIVE.reason]


@pytest.mark.parametrize(
    ("lon", "lat", "field", "rule", "csv_values"),
    [
        ("50.1", "", "lat", rules.COORDINATE_MISSING, ("50.1", "")),
        ("abc", "26.4", "lon", rules.COORDINATE_NOT_A_NUMBER, ("abc", "26.4")),
        ("50.1", "nan", "lat", rules.COORDINATE_NOT_FINITE, ("50.1", "nan")),
        ("190", "26.4", "lon", rules.COORDINATE_OUT_OF_RANGE, ("190", "26.4")),
    ],
)
def test_coordinates_are_refused_by_both(tmp_path, lon, lat, field, rule, csv_values):
    with pytest.raises(IntakeError) as raised:
        point_from_coordinates(lon=lon, lat=lat)
    assert (raised.value.field, raised.value.code) == (field, rule.code)
    assert import_reasons(tmp_path, lon=csv_values[0], lat=csv_values[1]) == [rule.reason]


def test_length_messages_name_their_limits():
    assert str(rules.ADDRESS.message) == f"At most {rules.ADDRESS.max_chars} characters."
    with pytest.raises(IntakeError) as raised:
        rules.REPORTER_PHONE.check("9" * 41)
    assert raised.value.message == "At most 40 characters."
    with translation.override("ar"), pytest.raises(IntakeError) as raised:
        rules.REPORTER_NAME.check("x" * 201)
    assert raised.value.message == "الحد الأقصى 200 حرفًا."
