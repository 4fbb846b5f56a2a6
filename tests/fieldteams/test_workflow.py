"""The crew workflow (every legal transition and the illegal ones), proof of work, declines
going back to dispatch, and supervisors' close, reopen, cancel, reassign and merge."""

from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point

from fieldteams.models import Assignment, AssignmentState, FlagKind, SupervisorFlag
from fieldteams.services import (
    WorkflowError,
    assignment_transition,
    job_reassign,
    report_cancel,
    report_close,
    report_merge,
    report_reopen,
)
from fieldteams.services.jobs import CREW_TARGETS, REPORT_STATUS, TRANSITIONS
from geo_ops.reports.models import EventKind, Priority, Report, ReportEvent, Status

from .conftest import DAMMAM, offset, place

pytestmark = pytest.mark.django_db
S = AssignmentState

LEGAL = sorted(
    (state, to) for state, targets in TRANSITIONS.items() for to in targets & CREW_TARGETS
)
ILLEGAL = sorted(
    (state, to) for state in S.values for to in CREW_TARGETS if to not in TRANSITIONS[state]
)


@pytest.fixture
def job(make_crew, make_member):
    crew = make_crew("roads-1", depot=offset(DAMMAM, metres=1000, azimuth=0))
    member = make_member("crew1", crew)
    report = place("pothole", DAMMAM)
    assignment = Assignment.objects.get(report=report)
    assignment.member = member
    return assignment


def move(job, to, **kwargs):
    kwargs.setdefault("note", "done" if to == S.COMPLETED else "")
    kwargs.setdefault("reason", "no truck" if to in (S.DECLINED, S.PAUSED) else "")
    return assignment_transition(
        assignment=job, to_state=to, actor=job.member, actor_label="user:crew1", **kwargs
    )


def put(job, state):
    """Place the job in `state` directly (and its report in the matching status)."""
    Assignment.objects.filter(pk=job.pk).update(state=state)
    Report.objects.filter(pk=job.report_id).update(status=REPORT_STATUS[state])
    job.refresh_from_db()


def public_notes(report):
    return list(
        ReportEvent.objects.filter(report=report, public=True)
        .order_by("id")
        .values_list("note", flat=True)
    )


def test_the_whole_way_to_completed_changes_the_public_status(job):
    report = job.report
    steps = [
        (S.ACCEPTED, Status.ASSIGNED),
        (S.EN_ROUTE, Status.IN_PROGRESS),
        (S.IN_PROGRESS, Status.IN_PROGRESS),
        (S.PAUSED, Status.IN_PROGRESS),
        (S.IN_PROGRESS, Status.IN_PROGRESS),
        (S.COMPLETED, Status.RESOLVED),
    ]
    for to, status in steps:
        before = report.updated_at
        result = move(job, to)
        assert result.assignment.state == to
        report.refresh_from_db()
        assert report.status == status, to
        # Every move counts as an update of the report (updated_after, Open311), also when
        # its status stays.
        assert report.updated_at > before, to
    job.refresh_from_db()
    assert job.accepted_at and job.started_at and job.completed_at
    assert job.completion_note == "done"
    assert public_notes(report)[-5:] == [
        "A field crew accepted the job.",
        "A field crew is on the way.",
        "Work has started.",
        "Work has started.",
        "The field crew completed the work.",
    ]
    # The crew's own words stay internal.
    internal = ReportEvent.objects.filter(report=report, public=False).last()
    assert internal.note == "Completed by roads-1: done" and internal.data["note"] == "done"


@pytest.mark.parametrize(("state", "to"), LEGAL)
def test_every_legal_transition(job, state, to):
    put(job, state)
    result = move(job, to)
    assert result.assignment.state == to
    job.refresh_from_db()
    assert job.state == to or (to == S.DECLINED and job.state == S.DECLINED)


@pytest.mark.parametrize(("state", "to"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(job, state, to):
    put(job, state)
    events = ReportEvent.objects.count()
    with pytest.raises(WorkflowError) as error:
        move(job, to)
    assert error.value.code == "illegal_transition"
    job.refresh_from_db()
    assert job.state == state and ReportEvent.objects.count() == events


def test_a_crew_cannot_cancel(job):
    with pytest.raises(WorkflowError) as error:
        move(job, S.CANCELLED)
    assert error.value.code == "not_allowed"


def test_completed_needs_a_note(job):
    put(job, S.IN_PROGRESS)
    with pytest.raises(WorkflowError) as error:
        move(job, S.COMPLETED, note="  ")
    assert (error.value.code, error.value.field) == ("required", "note")


@pytest.mark.parametrize(("metres", "flagged"), [(150, False), (199, False), (250, True)])
def test_completion_far_from_the_report_is_flagged(job, metres, flagged):
    put(job, S.IN_PROGRESS)
    at = offset(DAMMAM, metres=metres, azimuth=60)
    result = move(job, S.COMPLETED, location=Point(*at, srid=4326))
    job.refresh_from_db()
    assert job.completion_distance_m == pytest.approx(metres, abs=0.5)
    flags = SupervisorFlag.objects.filter(report=job.report, kind=FlagKind.FAR_COMPLETION)
    assert flags.exists() is flagged
    if flagged:
        assert flags.get().reason == f"completed {metres} m from the report; the limit is 200 m"
        assert result.flagged is not None
    job.report.refresh_from_db()
    assert job.report.status == Status.RESOLVED  # resolved either way; the supervisor decides


def test_decline_needs_a_reason_and_goes_back_to_dispatch_without_that_crew(job, make_crew):
    with pytest.raises(WorkflowError) as error:
        move(job, S.DECLINED, reason="")
    assert error.value.field == "reason"
    other = make_crew("roads-2", depot=offset(DAMMAM, metres=6000, azimuth=0))
    result = move(job, S.DECLINED, reason="Truck broke down")
    assert result.redispatched.crew == other
    job.refresh_from_db()
    assert job.state == S.DECLINED and job.state_reason == "Truck broke down"
    job.report.refresh_from_db()
    assert job.report.status == Status.ASSIGNED
    # Declined again by the second crew: nobody left (the first declined already).
    second = Assignment.objects.get(report=job.report, state=S.ASSIGNED)
    second.member = job.member
    move(second, S.DECLINED, reason="Out of area")
    job.report.refresh_from_db()
    assert job.report.status == Status.NEW
    flag = SupervisorFlag.objects.get(report=job.report)
    assert flag.reason == (
        "every crew skilled for Pothole in branch Dammam declined it (roads-1, roads-2)"
    )


def test_a_retried_request_with_the_same_client_id_changes_nothing(job):
    move(job, S.ACCEPTED, client_id="c-1")
    events = ReportEvent.objects.count()
    again = move(job, S.ACCEPTED, client_id="c-1")
    assert again.replayed and ReportEvent.objects.count() == events


def completed(job):
    put(job, S.IN_PROGRESS)
    move(job, S.COMPLETED)
    job.report.refresh_from_db()
    return job.report


def test_supervisor_closes_a_resolved_report(job, make_user):
    boss = make_user("boss")
    with pytest.raises(WorkflowError):
        report_close(report=job.report, actor=boss, actor_label="user:boss")
    report = report_close(report=completed(job), actor=boss, actor_label="user:boss")
    report.refresh_from_db()
    assert report.status == Status.CLOSED and report.closed_at is not None


def test_supervisor_reopens_and_it_is_dispatched_again(job, make_user):
    boss = make_user("boss")
    report = completed(job)
    old_due = report.due_at - timedelta(days=20)
    Report.objects.filter(pk=report.pk).update(due_at=old_due)
    with pytest.raises(WorkflowError):
        report_reopen(report=report, actor=boss, actor_label="user:boss", reason="")
    again = report_reopen(report=report, actor=boss, actor_label="user:boss", reason="Still there")
    assert again.crew == job.crew and again.state == S.ASSIGNED
    report.refresh_from_db()
    assert report.status == Status.ASSIGNED and report.closed_at is None
    assert report.due_at > old_due  # a new SLA clock from the reopening
    assert "Reopened: more work is needed." in public_notes(report)


def test_supervisor_cancels_the_job(job, make_user):
    boss = make_user("boss")
    report_cancel(report=job.report, actor=boss, actor_label="user:boss", reason="Private land")
    job.refresh_from_db()
    job.report.refresh_from_db()
    assert job.state == S.CANCELLED and job.report.status == Status.REJECTED
    assert public_notes(job.report)[-1] == "Closed without field work by the supervisor."


def test_supervisor_reassigns_to_another_crew(job, make_crew, make_user):
    boss = make_user("boss")
    other = make_crew("roads-9", depot=offset(DAMMAM, metres=9000, azimuth=0))
    new = job_reassign(
        report=job.report, crew=other, actor=boss, actor_label="user:boss", reason="closer team"
    )
    job.refresh_from_db()
    assert job.state == S.CANCELLED and "reassigned to roads-9" in job.state_reason
    assert new.crew == other and new.reason == "reassigned by user:boss: closer team"
    with pytest.raises(WorkflowError) as error:
        job_reassign(report=job.report, crew=other, actor=boss, actor_label="b", reason="")
    assert error.value.code == "same_crew"


def test_supervisor_merges_a_duplicate_the_intake_missed(job, make_user):
    boss = make_user("boss")
    # 80 m away: outside the pothole radius, so intake kept it apart.
    twin = place("pothole", offset(DAMMAM, metres=80, azimuth=0))
    twin_job = Assignment.objects.get(report=twin)
    assert twin.duplicate_of is None
    report_merge(report=twin, into=job.report, actor=boss, actor_label="user:boss")
    twin.refresh_from_db()
    twin_job.refresh_from_db()
    job.report.refresh_from_db()
    assert twin.status == Status.DUPLICATE and twin.duplicate_of == job.report
    assert twin_job.state == S.CANCELLED
    assert job.report.duplicate_count == 1 and job.report.priority == Priority.HIGH
    assert ReportEvent.objects.filter(report=job.report, kind=EventKind.REPORTED_AGAIN).exists()
    with pytest.raises(WorkflowError):
        report_merge(report=job.report, into=job.report, actor=boss, actor_label="b")
