"""SLA clocks in working time: Sunday-Thursday 07:30-14:30, Friday-Saturday weekend, public
holidays from the calendar fixture (2025 and 2026)."""

from datetime import date, time, timedelta

import pytest

from fieldteams.calendar import WorkingCalendar, sla_due_at, working_calendar
from fieldteams.models import BusinessCalendar, Holiday, HolidayKind

from .conftest import local, place

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("received", "hours", "due", "why"),
    [
        (local(2025, 9, 14, 8, 0), 3, local(2025, 9, 14, 11, 0), "same working day"),
        (local(2025, 9, 14, 7, 30), 7, local(2025, 9, 14, 14, 30), "exactly one working day"),
        (local(2025, 9, 14, 6, 0), 1, local(2025, 9, 14, 8, 30), "before hours: from 07:30"),
        (local(2025, 9, 14, 20, 0), 1, local(2025, 9, 15, 8, 30), "after hours: next morning"),
        (local(2025, 9, 18, 13, 30), 4, local(2025, 9, 21, 10, 30), "Thursday across weekend"),
        (local(2025, 9, 19, 10, 0), 2, local(2025, 9, 21, 9, 30), "received on Friday"),
        (local(2025, 9, 20, 23, 59), 0.5, local(2025, 9, 21, 8, 0), "received on Saturday"),
        (local(2025, 9, 22, 12, 30), 4, local(2025, 9, 24, 9, 30), "National Day (Tue 23 Sep)"),
        (local(2026, 3, 18, 14, 0), 1, local(2026, 3, 24, 8, 0), "Eid al-Fitr and a weekend"),
        (local(2026, 2, 19, 14, 0), 1, local(2026, 2, 23, 8, 0), "Founding Day on a Sunday"),
        (local(2025, 9, 18, 13, 30), 72, local(2025, 10, 6, 8, 30), "72 h: 1+7x10+1, a holiday"),
    ],
)
def test_sla_due_in_working_time(business_calendar, received, hours, due, why):
    assert working_calendar().add_working_hours(received, hours) == due, why
    assert sla_due_at(sla_hours=hours, received_at=received) == due


def test_the_fixture_has_both_years_holidays(business_calendar):
    calendar = working_calendar()
    assert calendar.working_days == {6, 0, 1, 2, 3}  # Sunday to Thursday
    assert (calendar.day_starts, calendar.day_ends) == (time(7, 30), time(14, 30))
    kinds = {(h.date.year, h.kind) for h in Holiday.objects.filter(calendar__code="default")}
    for year in (2025, 2026):
        for kind in HolidayKind.values:
            if kind != HolidayKind.OTHER:
                assert (year, kind) in kinds, (year, kind)
    assert date(2025, 9, 23) in calendar.holidays and date(2026, 2, 22) in calendar.holidays
    assert not calendar.is_working_day(date(2025, 9, 19))  # a Friday
    assert not calendar.is_working_day(date(2025, 9, 23))  # National Day, a Tuesday
    assert calendar.is_working_day(date(2025, 9, 21))  # a Sunday


def test_without_a_calendar_row_the_builtin_default_applies(db):
    assert not BusinessCalendar.objects.exists()
    calendar = working_calendar()
    assert calendar == WorkingCalendar()
    assert calendar.add_working_hours(local(2025, 9, 18, 13, 30), 4) == local(2025, 9, 21, 10, 30)


def test_a_holiday_added_in_the_admin_applies_at_once(business_calendar):
    received = local(2025, 11, 2, 14, 0)  # a Sunday
    assert working_calendar().add_working_hours(received, 1) == local(2025, 11, 3, 8, 0)
    Holiday.objects.create(
        calendar=BusinessCalendar.objects.get(code="default"),
        date=date(2025, 11, 3),
        kind=HolidayKind.OTHER,
        name_en="Extra holiday",
        name_ar="إجازة",
    )
    assert working_calendar().add_working_hours(received, 1) == local(2025, 11, 4, 8, 0)


def test_configurable_week_and_hours(business_calendar):
    calendar = BusinessCalendar.objects.get(code="default")
    calendar.working_days = [5, 6, 0, 1, 2, 3]  # Saturday to Thursday
    calendar.day_starts, calendar.day_ends = time(6, 0), time(14, 0)
    calendar.save()
    assert working_calendar().add_working_hours(local(2025, 9, 18, 13, 0), 2) == local(
        2025, 9, 20, 7, 0
    )


def test_working_time_between(business_calendar):
    calendar = working_calendar()
    # Thursday 13:30 to Sunday 10:30: one hour on Thursday, three on Sunday.
    assert calendar.working_time_between(
        local(2025, 9, 18, 13, 30), local(2025, 9, 21, 10, 30)
    ) == timedelta(hours=4)
    assert calendar.working_time_between(local(2025, 9, 21), local(2025, 9, 20)) == timedelta(0)


def test_a_calendar_without_working_days_is_refused():
    with pytest.raises(ValueError):
        WorkingCalendar(working_days=frozenset())


def test_intake_sets_due_at_on_the_business_calendar(business_calendar):
    report = place("missing_manhole_cover")  # 4 working hours
    report.refresh_from_db()
    expected = working_calendar().add_working_hours(report.created_at, 4)
    assert report.due_at == expected
    assert report.due_at - report.created_at >= timedelta(hours=4)
