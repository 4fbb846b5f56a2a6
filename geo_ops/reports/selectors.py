"""Reads of the report core."""

import math

from django.contrib.gis.geos import Point
from django.utils.translation import gettext as _

from .errors import IntakeError
from .models import Category, Report


def category_resolve(*, code: str) -> tuple[Category, Category | None]:
    """(top-level category, subcategory or None) for a category or subcategory code."""
    code = (code or "").strip()
    if not code:
        raise IntakeError("category", _("This field is required."), code="required")
    category = Category.objects.select_related("parent").filter(code=code, active=True).first()
    if category is None:
        raise IntakeError("category", _("Unknown category %(code)r.") % {"code": code}, "unknown")
    if category.parent_id:
        return category.parent, category
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
