"""Open311 query and form parameters into typed values; bad ones become Open311Error (400)."""

import re
from datetime import datetime, time

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..models import Report
from ..selectors import point_from_coordinates
from ..services import Reporter
from .render import Open311Error
from .selectors import RequestFilters

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# PostgreSQL's OFFSET is a bigint; stay far below it rather than fail in the database.
MAX_OFFSET = 2**62
MEDIA_URL_MAX_LENGTH = Report._meta.get_field("media_url").max_length

# A '+' in an unencoded query string arrives as a space: "2024-05-01T08:00:00 03:00".
_SPACE_FOR_PLUS_OFFSET = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")


def reject_nul(*, values: dict[str, list[str]]) -> None:
    """PostgreSQL text cannot hold NUL, so a value containing one is refused up front."""
    for name, items in values.items():
        if any("\x00" in item for item in items):
            raise Open311Error(400, f"{name}: must not contain NUL characters.")


def _comma_list(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _parse_datetime(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)):
            parsed = datetime.combine(day, time.min)
    except ValueError:  # well-formed but impossible, e.g. February 30
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _datetime(*, name: str, raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    parsed = _parse_datetime(raw) or _parse_datetime(_SPACE_FOR_PLUS_OFFSET.sub(r"+\1", raw))
    if parsed is None:
        raise Open311Error(
            400,
            f"{name}: {raw[:50]!r} is not a valid date and time; "
            "use W3C/ISO 8601, e.g. 2024-05-01T08:00:00+03:00.",
        )
    return parsed


def _positive_int(*, name: str, raw: str | None, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name}: must be a whole number, got {raw[:50]!r}.") from None
    if value < 1:
        raise Open311Error(400, f"{name}: must be at least 1.")
    return value


def request_filters(*, query: QueryDict) -> RequestFilters:
    """The filters of GET requests: service_request_id, service_code, start/end_date, status."""
    statuses = frozenset(part.lower() for part in _comma_list(query.get("status", "")))
    if not statuses <= {"open", "closed"}:
        raise Open311Error(400, "status: must be open, closed or both (comma-separated).")
    start = _datetime(name="start_date", raw=query.get("start_date", ""))
    end = _datetime(name="end_date", raw=query.get("end_date", ""))
    if start and end and start > end:
        raise Open311Error(400, "start_date: must not be after end_date.")
    return RequestFilters(
        tracking_numbers=_comma_list(query.get("service_request_id", "")),
        service_codes=_comma_list(query.get("service_code", "")),
        start=start,
        end=end,
        statuses=statuses,
    )


def page_window(*, query: QueryDict) -> tuple[int, int]:
    """(offset, limit) from the page/page_size extension; page_size is capped at the maximum."""
    page = _positive_int(name="page", raw=query.get("page"), default=1)
    page_size = min(
        _positive_int(name="page_size", raw=query.get("page_size"), default=DEFAULT_PAGE_SIZE),
        MAX_PAGE_SIZE,
    )
    offset = (page - 1) * page_size
    if offset > MAX_OFFSET:
        raise Open311Error(400, "page: too large.")
    return offset, page_size


def media_url(*, raw: str) -> str:
    """A media URL is optional; when given it must be an http(s) URL the model can store."""
    raw = raw.strip()
    if not raw:
        return ""
    if len(raw) > MEDIA_URL_MAX_LENGTH:
        raise Open311Error(400, f"media_url: at most {MEDIA_URL_MAX_LENGTH} characters.")
    try:
        URLValidator(schemes=["http", "https"])(raw)
    except ValidationError:
        raise Open311Error(400, "media_url: must be an http or https URL.") from None
    return raw


def location(*, form: QueryDict) -> Point:
    """The WGS84 point of a POSTed request. lat and long are required: there is no geocoder."""
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat and not lon:
        if form.get("address_string", "").strip():
            raise Open311Error(
                400,
                "lat/long: required; a location cannot be found from address_string alone "
                "(this server has no geocoder), so send lat and long too.",
            )
        raise Open311Error(400, "lat/long: required (WGS84 decimal degrees).")
    return point_from_coordinates(lon=lon, lat=lat)


def reporter(*, form: QueryDict) -> Reporter:
    """The reporter's contact, stored apart from the report and never shown by GET."""
    name = " ".join(
        part
        for part in (form.get("first_name", "").strip(), form.get("last_name", "").strip())
        if part
    )
    return Reporter(
        name=name, phone=form.get("phone", "").strip(), email=form.get("email", "").strip()
    )
