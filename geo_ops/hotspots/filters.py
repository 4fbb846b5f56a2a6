"""The filters every hotspot layer, KPI table and export takes, parsed once with clear errors.

Query parameters: category (a top-level category code), branch (a branch municipality code),
from and to (dates, YYYY-MM-DD, both inclusive, in local time; or ISO date-times), min_count,
bins (comma-separated confidence bins -3..3, hexagons), resolution (H3, 7-9), fdr (true/false),
refresh (true: recompute even when a stored run is current). Bad input raises
`FilterError(field, reason)`, which the API answers with a 400 {field: [reason]}.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from geo_ops.reports.models import Category, Report
from layers.models import BranchMunicipality

from . import conf

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class FilterError(ValueError):
    """A filter parameter that cannot be used: the field and the reason."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class HotspotFilters:
    """What to analyse: the period [date_from, date_to) and optional category and branch."""

    date_from: datetime
    date_to: datetime
    category: Category | None = None
    branch: BranchMunicipality | None = None
    min_count: int = 0
    bins: tuple[int, ...] | None = None
    resolution: int = field(default_factory=lambda: conf.get("GEO_OPS_HOTSPOT_H3_RESOLUTION"))
    fdr: bool = False
    refresh: bool = False

    def key(self) -> dict:
        """The parts that decide a computed layer (min_count and bins only filter its output)."""
        return {
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "category": self.category.code if self.category else None,
            "branch": self.branch.code if self.branch else None,
        }

    def describe(self) -> dict:
        """The filters as the API echoes them."""
        local = ZoneInfo(settings.TIME_ZONE)
        return {
            "from": self.date_from.astimezone(local).date().isoformat(),
            "to": (self.date_to.astimezone(local) - timedelta(seconds=1)).date().isoformat(),
            "category": self.category.code if self.category else None,
            "branch": self.branch.code if self.branch else None,
            "min_count": self.min_count,
            "bins": list(self.bins) if self.bins is not None else None,
            "resolution": self.resolution,
            "fdr": self.fdr,
        }


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _moment(field_name: str, value: str, *, end: bool) -> datetime:
    """A date (the day's start, or the next day's start for an inclusive end) or a date-time."""
    try:
        day = parse_date(value) if len(value) == 10 else None
    except ValueError:
        raise FilterError(field_name, str(_("not a valid date"))) from None
    if day is not None:
        return _local_midnight(day + timedelta(days=1) if end else day)
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise FilterError(field_name, str(_("expected a date as YYYY-MM-DD")))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, ZoneInfo(settings.TIME_ZONE))
    return moment


def default_period() -> tuple[datetime, datetime]:
    """GEO_OPS_HOTSPOT_DEFAULT_DAYS up to the day of the newest report (today if none)."""
    newest = Report.objects.aggregate(newest=Max("created_at"))["newest"]
    local = ZoneInfo(settings.TIME_ZONE)
    last_day = (newest or timezone.now()).astimezone(local).date()
    end = _local_midnight(last_day + timedelta(days=1))
    return end - timedelta(days=conf.get("GEO_OPS_HOTSPOT_DEFAULT_DAYS")), end


def _flag(params, name: str) -> bool:
    value = str(params.get(name, "")).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise FilterError(name, str(_("expected true or false")))


def _count(params, name: str, default: int) -> int:
    value = str(params.get(name, "")).strip()
    if not value:
        return default
    if not value.isdigit():
        raise FilterError(name, str(_("expected a whole number, 0 or more")))
    return int(value)


def _text(params, name: str) -> str:
    return str(params.get(name, "")).strip()


def _category(params) -> Category | None:
    code = _text(params, "category")
    if not code:
        return None
    category = Category.objects.filter(code=code, parent__isnull=True).first()
    if category is None:
        raise FilterError("category", str(_("unknown top-level category: %s") % code))
    return category


def _branch(params) -> BranchMunicipality | None:
    code = _text(params, "branch")
    if not code:
        return None
    branch = BranchMunicipality.objects.filter(code=code).first()
    if branch is None:
        raise FilterError("branch", str(_("unknown branch municipality: %s") % code))
    return branch


def _period(params) -> tuple[datetime, datetime]:
    """[from, to): both given as asked; a missing end is filled in from the default period (the
    default length before `to`, or up to the newest report after `from`)."""
    raw_from, raw_to = _text(params, "from"), _text(params, "to")
    if raw_from and raw_to:
        date_from = _moment("from", raw_from, end=False)
        date_to = _moment("to", raw_to, end=True)
    else:
        default_from, default_to = default_period()
        date_to = _moment("to", raw_to, end=True) if raw_to else default_to
        days = conf.get("GEO_OPS_HOTSPOT_DEFAULT_DAYS")
        date_from = (
            _moment("from", raw_from, end=False)
            if raw_from
            else (date_to - timedelta(days=days) if raw_to else default_from)
        )
        if raw_from and not raw_to:
            date_to = max(default_to, date_from + timedelta(days=1))
    if date_from >= date_to:
        raise FilterError("to", str(_("must not be before from")))
    if date_to - date_from > timedelta(days=3 * 366):
        raise FilterError("from", str(_("the period may be at most three years")))
    return date_from, date_to


def _bins(params) -> tuple[int, ...] | None:
    raw_bins = _text(params, "bins")
    if not raw_bins:
        return None
    try:
        bins = tuple(sorted({int(part) for part in raw_bins.split(",") if part.strip()}))
    except ValueError:
        bins = None
    if not bins or any(b < -3 or b > 3 for b in bins):
        raise FilterError("bins", str(_("expected bins from -3 to 3, comma-separated")))
    return bins


def _resolution(params) -> int:
    raw_resolution = _text(params, "resolution")
    if not raw_resolution:
        return conf.get("GEO_OPS_HOTSPOT_H3_RESOLUTION")
    allowed = conf.get("GEO_OPS_HOTSPOT_H3_RESOLUTIONS")
    if not raw_resolution.isdigit() or int(raw_resolution) not in allowed:
        raise FilterError(
            "resolution",
            str(_("expected one of %s") % ", ".join(str(r) for r in allowed)),
        )
    return int(raw_resolution)


def filters_from_params(params) -> HotspotFilters:
    """HotspotFilters from query parameters (a QueryDict or a plain dict of strings)."""
    # Checked in this order, so the first bad parameter is the one reported.
    category = _category(params)
    branch = _branch(params)
    date_from, date_to = _period(params)
    bins = _bins(params)
    resolution = _resolution(params)
    return HotspotFilters(
        date_from=date_from,
        date_to=date_to,
        category=category,
        branch=branch,
        min_count=_count(params, "min_count", 0),
        bins=bins,
        resolution=resolution,
        fdr=_flag(params, "fdr"),
        refresh=_flag(params, "refresh"),
    )
