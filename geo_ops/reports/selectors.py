"""Reads of the report core."""

from django.contrib.gis.geos import Point
from django.db import connection

from geo_ops.db.prepared import PreparedStatement

from . import rules
from .models import Category, Report


def category_resolve(*, code: str) -> tuple[Category, Category | None]:
    """(top-level category, subcategory or None) for a category or subcategory code in use."""
    code = (code or "").strip()
    if not code:
        raise rules.CATEGORY_MISSING.error()
    with connection.cursor() as cursor:
        _CATEGORY_STATEMENT.execute(cursor, {"code": code})
        row = cursor.fetchone()
    if row is None:
        raise rules.CATEGORY_UNKNOWN.error(code=code)
    width = len(_CATEGORY_FIELDS)
    category = Category.from_db(connection.alias, _CATEGORY_FIELDS, row[:width])
    if category.parent_id:
        return Category.from_db(connection.alias, _CATEGORY_FIELDS, row[width:]), category
    return category, None


def point_from_coordinates(*, lon, lat) -> Point:
    """A WGS84 point from untrusted longitude and latitude (numbers or numeric strings)."""
    return Point(rules.LON.parse(lon), rules.LAT.parse(lat), srid=4326)


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
    WHERE c.code = %(code)s AND """
    + rules.CATEGORY_IN_USE_SQL,
    {"code": "text"},
)
