"""Reads of the report core."""

import math

from django.contrib.gis.geos import Point
from django.db import connection
from django.utils.translation import gettext as _

from geo_ops.db.prepared import PreparedStatement

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
