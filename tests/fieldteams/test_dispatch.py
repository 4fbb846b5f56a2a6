"""Dispatch: eligibility (active, skilled, covering, capacity), the score and its tie-breaks,
the reason and audit trail, no eligible crew, the backlog command and overdue escalation."""

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.utils import timezone

from fieldteams import tasks
from fieldteams.models import Assignment, AssignmentState, FlagKind, SupervisorFlag
from fieldteams.services import dispatch_backlog, escalate_overdue, report_dispatch
from geo_ops.reports.models import Category, EventKind, Priority, Report, ReportEvent, Status
from layers.models import BranchMunicipality

from .conftest import DAMMAM, KHOBAR, offset, place

pytestmark = pytest.mark.django_db


def job_for(crew, at, *, due_in_hours: float = 48, category: str = "pothole") -> Assignment:
    """An open job of `crew` at `at`, due in `due_in_hours` (stored directly, not dispatched)."""
    report = imported(category, at, due_in_hours=due_in_hours)
    report.status = Status.ASSIGNED
    report.save(update_fields=["status"])
    return Assignment.objects.create(report=report, crew=crew, reason="test", assigned_by_label="t")


def imported(category: str, at, *, due_in_hours: float = 48, priority=None, hours_ago=0) -> Report:
    """A report as the bulk import stores it: no dispatch, due_at in calendar hours."""
    specific = Category.objects.select_related("parent").get(code=category)
    created = timezone.now() - timedelta(hours=hours_ago)
    return Report.objects.create(
        category=specific.parent or specific,
        subcategory=specific if specific.parent_id else None,
        location=Point(*at, srid=4326),
        channel="app",
        status=Status.NEW,
        priority=priority or specific.default_priority,
        branch=BranchMunicipality.objects.get(code="dammam" if at[1] > 26.35 else "khobar"),
        created_at=created,
        updated_at=created,
        due_at=timezone.now() + timedelta(hours=due_in_hours),
    )


def test_nearest_of_two_idle_crews_wins_and_the_reason_says_why(make_crew):
    make_crew("far", depot=offset(DAMMAM, metres=9000, azimuth=225))
    make_crew("near", depot=offset(DAMMAM, metres=2100, azimuth=270))
    report = place("pothole", DAMMAM)
    assignment = Assignment.objects.get(report=report)
    assert assignment.crew.code == "near"
    assert assignment.distance_m == pytest.approx(2100, abs=1)  # metres on the ellipsoid
    assert assignment.reason.startswith(
        "skill Pothole, covers branch Dammam, 0 open jobs, 2.1 km from its depot"
    )
    assert "best of 2 eligible crews" in assignment.reason
    report.refresh_from_db()
    assert report.status == Status.ASSIGNED
    # The audit trail: the decision with its reason (internal), the status change (public).
    events = list(ReportEvent.objects.filter(report=report).order_by("id"))
    assert [(e.kind, e.public) for e in events] == [
        (EventKind.CREATED, True),
        (EventKind.DISPATCHED, False),
        (EventKind.STATUS_CHANGED, True),
    ]
    assert events[1].note == assignment.reason and events[1].data["crew"] == "near"
    assert events[2].to_status == Status.ASSIGNED and "near" not in events[2].note


def test_a_busy_crew_loses_to_an_idle_one_farther_away(make_crew):
    busy = make_crew("busy", depot=offset(DAMMAM, metres=300, azimuth=0))
    make_crew("idle", depot=offset(DAMMAM, metres=3000, azimuth=90))
    for n in range(3):
        job_for(busy, offset(DAMMAM, metres=5000 + 100 * n, azimuth=180))
    # busy: 3 jobs + 0.15 km * 0.5 = 3.15; idle: 0 jobs + 3 km * 0.5 = 1.5
    assignment = Assignment.objects.get(report=place("pothole", DAMMAM))
    assert assignment.crew.code == "idle"
    assert assignment.score == pytest.approx(1.5, abs=0.01)


def test_distance_counts_from_the_crews_nearest_open_job(make_crew):
    nearby = make_crew("nearby-job", depot=offset(DAMMAM, metres=20000, azimuth=270))
    make_crew("depot-5km", depot=offset(DAMMAM, metres=5000, azimuth=90))
    job_for(nearby, offset(DAMMAM, metres=200, azimuth=45))
    # nearby-job: 1 job + 0.2 km * 0.5 = 1.1; depot-5km: 5 km * 0.5 = 2.5
    assignment = Assignment.objects.get(report=place("pothole", DAMMAM))
    assert assignment.crew.code == "nearby-job"
    assert "0.2 km from its nearest open job" in assignment.reason


def test_sla_urgency_jobs_due_earlier_weigh_more(make_crew):
    pressed = make_crew("pressed", depot=offset(DAMMAM, metres=1000, azimuth=0))
    relaxed = make_crew("relaxed", depot=offset(DAMMAM, metres=1000, azimuth=180))
    # A pothole is due in 72 working hours (about ten days); one job due in an hour comes first.
    job_for(pressed, offset(DAMMAM, metres=4000, azimuth=90), due_in_hours=1)
    job_for(relaxed, offset(DAMMAM, metres=4000, azimuth=270), due_in_hours=24 * 60)
    assignment = Assignment.objects.get(report=place("pothole", DAMMAM))
    assert assignment.crew == relaxed
    assert "1 due earlier" not in assignment.reason


def test_ties_are_broken_by_crew_code(make_crew):
    depot = offset(DAMMAM, metres=1500, azimuth=0)
    make_crew("b-crew", depot=depot)
    make_crew("a-crew", depot=depot)
    make_crew("c-crew", depot=depot)
    assert Assignment.objects.get(report=place("pothole", DAMMAM)).crew.code == "a-crew"


def test_same_data_same_choice_every_time(make_crew):
    for code, metres in (("x1", 2000), ("x2", 2000), ("x3", 1999)):
        make_crew(code, depot=offset(DAMMAM, metres=metres, azimuth=0))
    report = place("pothole", DAMMAM)
    first = Assignment.objects.get(report=report)
    choices = set()
    for _ in range(3):
        first.state = AssignmentState.CANCELLED
        first.save()
        Report.objects.filter(pk=report.pk).update(status=Status.NEW)
        report.refresh_from_db()
        first = report_dispatch(report=report)
        choices.add(first.crew.code)
    assert choices == {"x3"}


def test_no_crew_skilled_leaves_the_report_unassigned_and_flags_it(make_crew):
    make_crew("lights", skills=["lighting_billboards"])
    report = place("pothole", DAMMAM)
    report.refresh_from_db()
    assert report.status == Status.NEW and report.due_at is not None
    assert not Assignment.objects.filter(report=report).exists()
    flag = SupervisorFlag.objects.get(report=report)
    assert flag.kind == FlagKind.NO_ELIGIBLE_CREW and flag.resolved_at is None
    assert flag.reason == "no active crew is skilled for Pothole"


def test_inactive_crews_are_not_eligible(make_crew):
    make_crew("retired", active=False)
    report = place("pothole", DAMMAM)
    assert not Assignment.objects.filter(report=report).exists()
    assert "no active crew is skilled" in SupervisorFlag.objects.get(report=report).reason


def test_coverage_a_crew_only_takes_its_branches(make_crew):
    make_crew("khobar-roads", branches=["khobar"], depot=KHOBAR)
    dammam = place("pothole", DAMMAM)
    assert SupervisorFlag.objects.get(report=dammam).reason == (
        "no active crew skilled for Pothole covers branch Dammam"
    )
    khobar = place("pothole", KHOBAR)
    assert Assignment.objects.get(report=khobar).crew.code == "khobar-roads"


def test_capacity_full_crews_are_skipped(make_crew):
    full = make_crew("full", capacity=1, depot=offset(DAMMAM, metres=100, azimuth=0))
    job_for(full, offset(DAMMAM, metres=900, azimuth=0))
    report = place("pothole", DAMMAM)
    assert not Assignment.objects.filter(report=report).exists()
    assert SupervisorFlag.objects.get(report=report).reason == (
        "no crew has capacity: every crew skilled for Pothole in branch Dammam is full (full 1/1)"
    )
    roomy = make_crew("roomy", capacity=2, depot=offset(DAMMAM, metres=8000, azimuth=0))
    other = place("pothole", offset(DAMMAM, metres=400, azimuth=90))
    assert Assignment.objects.get(report=other).crew == roomy


def test_skills_subcategory_or_whole_category(make_crew):
    make_crew("lamps-only", skills=["street_light_out"])
    make_crew("all-lighting", skills=["lighting_billboards"], depot=(50.0350, 26.4300))
    lamp = place("street_light_out", DAMMAM)
    billboard = place("damaged_billboard", offset(DAMMAM, metres=500, azimuth=0))
    assert Assignment.objects.get(report=lamp).crew.code == "lamps-only"
    lamp_reason = Assignment.objects.get(report=lamp).reason
    assert lamp_reason.startswith("skill Street light out,")
    billboard_job = Assignment.objects.get(report=billboard)
    assert billboard_job.crew.code == "all-lighting"
    assert billboard_job.reason.startswith("skill Damaged billboard,")


def test_backlog_dispatches_imported_reports_most_urgent_first(make_crew, business_calendar):
    crew = make_crew("roads", capacity=2, depot=offset(DAMMAM, metres=5000, azimuth=180))
    low = imported("damaged_sidewalk", offset(DAMMAM, metres=300, azimuth=0), priority=1)
    urgent = imported("missing_manhole_cover", offset(DAMMAM, metres=600, azimuth=0), priority=4)
    normal = imported("pothole", offset(DAMMAM, metres=900, azimuth=0), priority=2)
    elsewhere = imported("pothole", KHOBAR)
    out = StringIO()
    call_command("dispatch_backlog", stdout=out)
    assert "considered 4, assigned 2, left unassigned 2" in out.getvalue()
    assigned = {a.report_id for a in Assignment.objects.filter(crew=crew)}
    assert assigned == {urgent.pk, normal.pk}  # capacity 2: the low-priority one waits
    for report in (low, urgent, normal, elsewhere):
        report.refresh_from_db()
        # Due times recomputed on the business calendar, from receipt.
        specific = report.subcategory or report.category
        assert report.due_at == business_due(report.created_at, specific.sla_hours)
    assert low.status == Status.NEW and urgent.status == Status.ASSIGNED
    flags = dict(SupervisorFlag.objects.values_list("report_id", "kind"))
    assert flags == {low.pk: FlagKind.NO_ELIGIBLE_CREW, elsewhere.pk: FlagKind.NO_ELIGIBLE_CREW}
    # The second job's distance counts from the first one given out in the same batch.
    second = Assignment.objects.get(report=normal)
    assert second.distance_m == pytest.approx(300, abs=2)

    # Capacity freed: the next run takes the waiting report and resolves its flag.
    Assignment.objects.filter(report=urgent).update(state=AssignmentState.COMPLETED)
    summary = dispatch_backlog()
    assert (summary.considered, summary.assigned) == (2, 1)
    assert Assignment.objects.get(report=low, state=AssignmentState.ASSIGNED).crew == crew
    assert SupervisorFlag.objects.get(report=low).resolved_at is not None


def business_due(received, hours):
    from fieldteams.calendar import working_calendar

    return working_calendar().add_working_hours(received, hours)


def test_backlog_skips_duplicates_and_reports_with_a_job(make_crew):
    crew = make_crew("roads")
    place("pothole", DAMMAM)  # dispatched at intake
    duplicate = place("pothole", DAMMAM)
    assert duplicate.status == Status.DUPLICATE
    summary = dispatch_backlog()
    assert summary.considered == 0
    assert Assignment.objects.filter(crew=crew).count() == 1


def test_overdue_reports_are_flagged_raised_and_audited_once(make_crew):
    crew = make_crew("roads")
    late = job_for(crew, DAMMAM, due_in_hours=-2).report
    on_time = job_for(crew, offset(DAMMAM, metres=800, azimuth=0), due_in_hours=5).report
    unassigned_late = imported("pothole", KHOBAR, due_in_hours=-30)
    before = late.priority
    assert escalate_overdue() == 2
    late.refresh_from_db()
    assert late.priority == before + 1
    flag = SupervisorFlag.objects.get(report=late)
    assert flag.kind == FlagKind.OVERDUE and flag.assignment.crew == crew
    assert flag.reason.startswith("overdue since ")
    event = ReportEvent.objects.get(report=late, kind=EventKind.ESCALATED)
    assert not event.public and f"priority raised to {before + 1}" in event.note
    assert SupervisorFlag.objects.filter(report=unassigned_late, kind=FlagKind.OVERDUE).exists()
    assert not SupervisorFlag.objects.filter(report=on_time).exists()
    # Once: running again changes nothing.
    out = StringIO()
    call_command("escalate_overdue", stdout=out)
    assert "escalated 0 overdue" in out.getvalue()
    late.refresh_from_db()
    assert late.priority == before + 1


def test_escalation_caps_at_urgent_and_runs_as_a_celery_task(make_crew):
    report = imported("missing_manhole_cover", DAMMAM, due_in_hours=-1, priority=Priority.URGENT)
    assert tasks.escalate_overdue.apply().get() == 1  # eagerly, without a broker
    report.refresh_from_db()
    assert report.priority == Priority.URGENT
    assert tasks.dispatch_backlog.apply().get()["considered"] == 1


def shift(crew, weekday: int, starts: str, ends: str):
    from fieldteams.models import CrewShift

    CrewShift.objects.create(crew=crew, weekday=weekday, starts=starts, ends=ends)


def test_a_crew_on_shift_is_preferred_to_a_nearer_one_off_shift(make_crew):
    on = make_crew("always-on", depot=offset(DAMMAM, metres=3000, azimuth=0))
    off = make_crew("rarely-on", depot=offset(DAMMAM, metres=500, azimuth=0))
    for day in range(7):
        shift(on, day, "00:00", "00:00")  # round the clock (ends at its start: 24 hours)
    shift(off, 0, "03:00", "03:01")  # one minute a week
    assignment = Assignment.objects.get(report=place("pothole", DAMMAM))
    assert assignment.crew == on
    assert "on shift" in assignment.reason


def test_hours_to_the_next_shift_and_night_shifts(business_calendar):
    from fieldteams.dispatch import Dispatcher

    from .conftest import local

    night = [[d, 22 * 60, 6 * 60, 0] for d in (5, 6, 0, 1, 2, 3)]  # Sat-Thu 22:00-06:00
    day = [[d, 7 * 60, 15 * 60, 0] for d in (6, 0, 1, 2, 3)]  # Sun-Thu 07:00-15:00
    at = Dispatcher(now=local(2025, 9, 15, 2, 30))._hours_to_shift  # a Monday, 02:30
    assert at(night) == 0  # Sunday's night shift is still on
    assert at(day) == pytest.approx(4.5)
    at = Dispatcher(now=local(2025, 9, 18, 16, 0))._hours_to_shift  # Thursday 16:00
    assert at(night) == pytest.approx(6)
    assert at(day) == pytest.approx(63)  # Sunday 07:00
    # National Day (Tuesday 23 Sep 2025) is off for shifts that do not work holidays.
    at = Dispatcher(now=local(2025, 9, 22, 16, 0))._hours_to_shift  # Monday 16:00
    assert at(day) == pytest.approx(39)  # Wednesday 07:00
    assert at([]) == 0
