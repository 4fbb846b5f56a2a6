"""The rules a report's data must meet, each declared once for both ways in.

Intake (the REST API, Open311, the report form) checks one report in Python with a rule's
`check`, and answers with the rule's `error`: the field, the code and the translated message.
The bulk import checks every row of a file at once in SQL (geo_ops.reports.bulk.checks) built
from the same rules: their limits, their choices, and `reason`, the code that starts a rejected
row's reason in the rejects file. A limit changed here changes both; a rule without a `reason`
concerns a field that import files do not have (address, the reporter's contact). What only
files carry (external_id, status, created_at and closed_at) is checked by the import alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .errors import IntakeError
from .models import Channel, Report, ReporterContact


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One reason to refuse a value: intake's field, error code and message (a msgid, formatted
    with the values given to `error`; "": the import's alone), and the bulk import's reject
    reason ("": intake's alone)."""

    field: str
    message: str | Promise = ""
    code: str = "invalid"
    reason: str = ""

    def error(self, *, field: str | None = None, **values) -> IntakeError:
        """Intake's error for this rule; `field` for a rule shared by several (the coordinates)."""
        message = self.message % values if values else self.message
        return IntakeError(field or self.field, str(message), code=self.code)


@dataclass(frozen=True, kw_only=True)
class MaxLength(Rule):
    """A text of at most `limit` characters: a number, or the name of the setting that holds
    it (read when checked, so that a changed setting applies at once)."""

    limit: int | str

    @property
    def max_chars(self) -> int:
        return getattr(settings, self.limit) if isinstance(self.limit, str) else self.limit

    def check(self, value: str) -> None:
        limit = self.max_chars
        if len(value) > limit:
            raise self.error(limit=limit, n=len(value))


@dataclass(frozen=True, kw_only=True)
class OneOf(Rule):
    """A value from a fixed list; the message names them (%(c)s)."""

    choices: tuple[str, ...]

    @property
    def choices_text(self) -> str:
        return ", ".join(self.choices)

    def check(self, value: str) -> None:
        if value not in self.choices:
            raise self.error(c=self.choices_text)


@dataclass(frozen=True, kw_only=True)
class Email(Rule):
    """An e-mail address, when one is given."""

    def check(self, value: str) -> None:
        if not value:
            return
        try:
            EmailValidator()(value)
        except ValidationError:
            raise self.error() from None


@dataclass(frozen=True)
class Coordinate:
    """A longitude or latitude in WGS84 degrees: a finite number within -limit..limit."""

    field: str
    limit: int

    def parse(self, raw) -> float:
        """The coordinate of an untrusted value (a number or a numeric string)."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise COORDINATE_MISSING.error(field=self.field)
        if isinstance(raw, bool):
            raise COORDINATE_NOT_A_NUMBER.error(field=self.field)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise COORDINATE_NOT_A_NUMBER.error(field=self.field) from None
        if not math.isfinite(value):
            raise COORDINATE_NOT_FINITE.error(field=self.field)
        if not -self.limit <= value <= self.limit:
            raise COORDINATE_OUT_OF_RANGE.error(field=self.field, low=-self.limit, high=self.limit)
        return value


# --- category: a category or subcategory code, in use ----------------------------------------

CATEGORY_MISSING = Rule(
    field="category",
    code="required",
    message=_("This field is required."),
    reason="category_missing",
)
CATEGORY_UNKNOWN = Rule(
    field="category",
    code="unknown",
    message=_("Unknown category %(code)r."),
    reason="category_unknown",
)
# Intake answers a code no longer in use as an unknown one (no list offers it any more); the
# rejects file says which it is.
CATEGORY_INACTIVE = Rule(
    field="category",
    code="unknown",
    message=_("Unknown category %(code)r."),
    reason="category_inactive",
)
# A code in use: its category is active, and so is a subcategory's parent (as Open311's list of
# services has it). SQL over `reports_category AS c LEFT JOIN reports_category AS p ON p.id =
# c.parent_id`, in intake's category statement and in the import's category lookup.
CATEGORY_IN_USE_SQL = "c.active AND coalesce(p.active, true)"

# --- location: coordinates, inside the service area ------------------------------------------

LON = Coordinate("lon", 180)
LAT = Coordinate("lat", 90)
COORDINATE_MISSING = Rule(
    field="location",
    code="required",
    message=_("This field is required."),
    reason="coordinates_missing",
)
COORDINATE_NOT_A_NUMBER = Rule(
    field="location", message=_("Must be a number."), reason="coordinates_not_a_number"
)
COORDINATE_NOT_FINITE = Rule(
    field="location", message=_("Must be a finite number."), reason="coordinates_not_finite"
)
COORDINATE_OUT_OF_RANGE = Rule(
    field="location",
    message=_("Must be between %(low)s and %(high)s."),
    reason="coordinates_out_of_range",
)
SERVICE_AREA = Rule(
    field="location",
    code="outside_service_area",
    message=_("The location is outside the service area: no branch municipality contains it."),
    reason="outside_service_area",
)
# The message by the name intake's report_create raises it under.
OUTSIDE_SERVICE_AREA = SERVICE_AREA.message

# --- texts -----------------------------------------------------------------------------------

DESCRIPTION = MaxLength(
    field="description",
    limit="GEO_OPS_DESCRIPTION_MAX_CHARS",
    code="too_long",
    message=_("At most %(limit)d characters (got %(n)d)."),
    reason="description_too_long",
)
# The limit in the msgid itself: Arabic words a count of hundreds unlike most other counts, so
# this message has a translation of its own (tests/reports/test_rules.py holds it to the limit).
ADDRESS = MaxLength(
    field="address",
    limit=Report._meta.get_field("address").max_length,
    code="too_long",
    message=_("At most 500 characters."),
)
REPORTER_NAME = MaxLength(
    field="reporter.name",
    limit=ReporterContact._meta.get_field("name").max_length,
    message=_("At most %(limit)d characters."),
)
REPORTER_PHONE = MaxLength(
    field="reporter.phone",
    limit=ReporterContact._meta.get_field("phone").max_length,
    message=_("At most %(limit)d characters."),
)
REPORTER_EMAIL = Email(field="reporter.email", message=_("Enter a valid e-mail address."))

# --- channel ---------------------------------------------------------------------------------

CHANNEL = OneOf(
    field="channel",
    choices=tuple(Channel.values),
    message=_("Unknown channel; use one of: %(c)s."),
    reason="channel_invalid",
)
# A file's row without a channel (intake's callers always give one, by default their own).
CHANNEL_MISSING = Rule(field="channel", reason="channel_missing")
