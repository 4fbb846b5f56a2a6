"""Working time on the business calendar: SLA clocks run only on working days and hours.

`working_calendar()` is the calendar intake uses (settings.GEO_OPS_BUSINESS_CALENDAR), loaded
once and cached in the process: every intake asks for it, and a query per request for data that
changes a few times a year would be waste. An edit through the ORM (admin, loaddata) drops the
cache of the process that made it; other processes pick it up within
settings.GEO_OPS_BUSINESS_CALENDAR_CACHE_SECONDS. Without a calendar row the built-in default
(Sunday-Thursday, 07:30-14:30, no holidays) applies, so intake never fails for want of one.
"""

import threading
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from .models import BusinessCalendar, Holiday, Weekday

DEFAULT_WORKING_DAYS = frozenset(
    {Weekday.SUNDAY, Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY}
)
# Farther than any SLA can reach: a guard against a calendar that never works.
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class WorkingCalendar:
    """An immutable snapshot of a business calendar, for working-time arithmetic."""

    working_days: frozenset[int] = DEFAULT_WORKING_DAYS
    day_starts: time = time(7, 30)
    day_ends: time = time(14, 30)
    holidays: frozenset[date] = field(default_factory=frozenset)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(settings.TIME_ZONE))

    def __post_init__(self):
        if not self.working_days:
            raise ValueError("a business calendar needs at least one working day")
        if self.day_ends <= self.day_starts:
            raise ValueError("a working day must end after it starts")

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.day_starts, tzinfo=self.tz),
            datetime.combine(day, self.day_ends, tzinfo=self.tz),
        )

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time after `start` (an aware datetime).

        Time before the day's start, after its end, on weekends and on holidays does not count;
        a clock started outside working time starts at the next working moment. The result is
        in the calendar's time zone.
        """
        if timezone.is_naive(start):
            raise ValueError("start must be an aware datetime")
        remaining = duration
        moment = start.astimezone(self.tz)
        day = moment.date()
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self._bounds(day)
                moment = max(moment, opens)
                if moment <= closes:
                    available = closes - moment
                    if remaining <= available:
                        return moment + remaining
                    remaining -= available
            day += timedelta(days=1)
            moment = datetime.combine(day, time.min, tzinfo=self.tz)
        raise ValueError(f"no end within {MAX_DAYS} days: is every day a holiday?")

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.add_working_time(start, timedelta(hours=hours))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end` (zero when end <= start)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        start, end = start.astimezone(self.tz), end.astimezone(self.tz)
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                opens, closes = self._bounds(day)
                low, high = max(opens, start), min(closes, end)
                if high > low:
                    total += high - low
            day += timedelta(days=1)
        return total


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, WorkingCalendar]] = {}


def working_calendar(code: str | None = None) -> WorkingCalendar:
    """The business calendar `code` (default: settings.GEO_OPS_BUSINESS_CALENDAR), cached."""
    code = code or settings.GEO_OPS_BUSINESS_CALENDAR
    ttl = settings.GEO_OPS_BUSINESS_CALENDAR_CACHE_SECONDS
    now = clock.monotonic()
    cached = _cache.get(code)
    if cached and now - cached[0] < ttl:
        return cached[1]
    calendar = _load(code)
    with _cache_lock:
        _cache[code] = (now, calendar)
    return calendar


def _load(code: str) -> WorkingCalendar:
    row = BusinessCalendar.objects.filter(code=code).first()
    if row is None:
        return WorkingCalendar()
    holidays = frozenset(Holiday.objects.filter(calendar=row).values_list("date", flat=True))
    return WorkingCalendar(
        working_days=frozenset(row.working_days),
        day_starts=row.day_starts,
        day_ends=row.day_ends,
        holidays=holidays,
    )


def working_calendar_forget() -> None:
    """Drop the cached calendars (after an edit; tests call it after rolling back)."""
    with _cache_lock:
        _cache.clear()


@receiver(post_save, sender=BusinessCalendar, dispatch_uid="fieldteams_calendar_saved")
@receiver(post_delete, sender=BusinessCalendar, dispatch_uid="fieldteams_calendar_deleted")
@receiver(post_save, sender=Holiday, dispatch_uid="fieldteams_holiday_saved")
@receiver(post_delete, sender=Holiday, dispatch_uid="fieldteams_holiday_deleted")
def _calendar_changed(sender, **kwargs) -> None:
    working_calendar_forget()


def sla_due_at(*, sla_hours: float, received_at: datetime) -> datetime:
    """When a report received at `received_at` is due: its SLA hours of working time later."""
    return working_calendar().add_working_hours(received_at, sla_hours)
