"""The crew workflow: a job moves from assigned to completed (or declined), and the report's
public status follows it through the report workflow."""

from dataclasses import dataclass

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone
from pyproj import Geod

from geo_ops.reports.models import EventKind, Report, ReportEvent, Status
from geo_ops.reports.workflow import (
    Event,
    Role,
    WorkflowError,
    report_events_add,
    report_status_change,
)

from ..models import Assignment, AssignmentState, FlagKind, SupervisorFlag
from .common import PUBLIC_NOTES, locked_report
from .dispatch import report_dispatch

_GEOD = Geod(ellps="WGS84")
S = AssignmentState
# state -> the states it may go to. Completed, declined and cancelled are final for the job; a
# supervisor reopens the report, which makes a new job.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.ASSIGNED: frozenset({S.ACCEPTED, S.DECLINED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.EN_ROUTE, S.DECLINED, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.IN_PROGRESS, S.PAUSED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED, S.PAUSED, S.CANCELLED}),
    S.PAUSED: frozenset({S.EN_ROUTE, S.IN_PROGRESS, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.DECLINED: frozenset(),
    S.CANCELLED: frozenset(),
}
# What a crew member may do; cancelling is a supervisor's (job_reassign, report_cancel).
CREW_TARGETS = frozenset({S.ACCEPTED, S.DECLINED, S.EN_ROUTE, S.IN_PROGRESS, S.PAUSED, S.COMPLETED})
# The report's status while its job is in each state.
REPORT_STATUS = {
    S.ASSIGNED: Status.ASSIGNED,
    S.ACCEPTED: Status.ASSIGNED,
    S.EN_ROUTE: Status.IN_PROGRESS,
    S.IN_PROGRESS: Status.IN_PROGRESS,
    S.PAUSED: Status.IN_PROGRESS,
    S.COMPLETED: Status.RESOLVED,
    S.DECLINED: Status.NEW,
    S.CANCELLED: Status.NEW,
}
TEXT_MAX = 4000


def allowed_transitions(state: str) -> list[str]:
    """The states a crew member can move a job in `state` to, in workflow order."""
    return [s.value for s in AssignmentState if s in TRANSITIONS[state] and s in CREW_TARGETS]


def _event_replayed(report_id: int, client_id: str | None) -> bool:
    if not client_id:
        return False
    return ReportEvent.objects.filter(report_id=report_id, data__client_id=client_id).exists()


@dataclass
class TransitionResult:
    assignment: Assignment
    replayed: bool = False
    redispatched: Assignment | None = None
    flagged: SupervisorFlag | None = None


def _check(assignment: Assignment, to_state: str, *, note: str, reason: str) -> None:
    """Refuse a move the crew workflow does not allow, or that lacks its note or reason."""
    if to_state not in AssignmentState.values:
        raise WorkflowError(f"Unknown state {to_state!r}.", code="unknown_state")
    if to_state not in CREW_TARGETS:
        raise WorkflowError(f"A crew cannot move a job to {to_state}.", code="not_allowed")
    if to_state not in TRANSITIONS[assignment.state]:
        raise WorkflowError(
            f"A job that is {assignment.state} cannot become {to_state}; "
            f"allowed: {', '.join(allowed_transitions(assignment.state)) or 'none'}.",
            code="illegal_transition",
        )
    if to_state == S.COMPLETED and not note:
        raise WorkflowError("A completed job needs a note.", code="required", field="note")
    if to_state == S.DECLINED and not reason:
        raise WorkflowError("Say why the job is declined.", code="required", field="reason")
    if len(note) > TEXT_MAX or len(reason) > TEXT_MAX:
        raise WorkflowError("At most 4000 characters.", code="too_long", field="note")


def _locked_assignment(assignment: Assignment) -> Assignment:
    """The job and its report, both locked and read afresh: the report first, as supervisors'
    actions lock them (no deadlock between a crew's move and a supervisor's), and read after
    the lock so that a move waiting on another one sees the report as that one left it (a
    joined row under FOR UPDATE OF the job alone would be the old version)."""
    report = locked_report(Report(pk=assignment.report_id))  # a job's report never changes
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("crew")
        .get(pk=assignment.pk)
    )
    assignment.report = report
    return assignment


@transaction.atomic
def assignment_transition(
    *,
    assignment: Assignment,
    to_state: str,
    actor,
    actor_label: str,
    note: str = "",
    reason: str = "",
    location: Point | None = None,
    photo=None,
    client_id: str | None = None,
) -> TransitionResult:
    """Move a crew's job along its workflow (crew members' actions).

    Completed needs a note; it may carry a photo and the crew's position, and a position
    farther than the category's proof radius from the report (geodesic metres) flags the job
    for the supervisor. Completion resolves the report. Declined needs a reason; the job goes
    back to dispatch without that crew. `client_id` makes a retried request (the crew map's
    offline queue) harmless: the same id again changes nothing.
    """
    assignment = _locked_assignment(assignment)
    report = assignment.report
    if _event_replayed(report.pk, client_id):
        return TransitionResult(assignment=assignment, replayed=True)
    to_state = str(to_state or "")
    note, reason = (note or "").strip(), (reason or "").strip()
    _check(assignment, to_state, note=note, reason=reason)
    from_state = assignment.state
    data = {"assignment": assignment.pk, "crew": assignment.crew.code, "from": from_state}
    data["to"] = to_state
    if client_id:
        data["client_id"] = client_id
    flag = _job_update(
        assignment, to_state, note=note, reason=reason, location=location, photo=photo, data=data
    )
    _report_follow(
        report,
        assignment=assignment,
        job_event=_job_event(assignment, from_state, note=note, reason=reason, data=data),
        actor=actor,
        actor_label=actor_label,
    )
    redispatched = None
    if to_state == S.DECLINED:
        # Back to dispatch; the crews that declined it are left out (dispatch.CANDIDATES_SQL).
        redispatched = report_dispatch(report=report)
    return TransitionResult(assignment=assignment, redispatched=redispatched, flagged=flag)


def _job_update(assignment, to_state, *, note, reason, location, photo, data):
    """The job's own new state and what comes with it; the flag of a far completion."""
    now = timezone.now()
    assignment.state = to_state
    assignment.state_changed_at = now
    flag = None
    if to_state == S.ACCEPTED:
        assignment.accepted_at = now
    elif to_state == S.IN_PROGRESS and assignment.started_at is None:
        assignment.started_at = now
    elif to_state in (S.DECLINED, S.PAUSED):
        assignment.state_reason = reason
        data["reason"] = reason
    elif to_state == S.COMPLETED:
        assignment.completed_at = now
        assignment.completion_note = note
        data["note"] = note
        if photo is not None:
            assignment.completion_photo = photo
        if location is not None:
            flag = _completion_position(assignment, assignment.report, location, data)
    assignment.save()
    if assignment.completion_photo:
        data["photo"] = assignment.completion_photo.name
    if flag is not None:
        flag.assignment = assignment
        SupervisorFlag.objects.bulk_create([flag], ignore_conflicts=True)
    return flag


def _job_event(assignment: Assignment, from_state: str, *, note, reason, data) -> Event:
    """The internal audit event of the crew's move (the crew's words stay internal)."""
    code, to_state = assignment.crew.code, assignment.state
    internal = {
        S.DECLINED: f"Declined by {code}: {reason}",
        S.PAUSED: f"Paused by {code}" + (f": {reason}" if reason else ""),
        S.COMPLETED: f"Completed by {code}: {note}",
    }
    return Event(
        kind=EventKind.JOB_UPDATE,
        actor_label="",
        note=internal.get(to_state, f"{code}: {from_state} -> {to_state}"),
        public=False,
        data=data,
    )


def _report_follow(report: Report, *, assignment, job_event: Event, actor, actor_label) -> None:
    """The report's status follows the job's state, through the workflow; a public sentence
    for the track page when the crew's move means something to the citizen."""
    job_event.actor, job_event.actor_label = actor, actor_label
    new_status = REPORT_STATUS[assignment.state]
    public_note = PUBLIC_NOTES.get(assignment.state)
    if new_status != report.status:
        report_status_change(
            report=report,
            to_status=new_status,
            role=Role.CREW,
            actor=actor,
            actor_label=actor_label,
            note=public_note or "",
            # Back to dispatch after a decline is internal: the public sees the next crew.
            public=bool(public_note),
            data={"assignment": assignment.pk},
            before=[job_event],
        )
        return
    events = [job_event]
    if public_note:
        events.append(
            Event(
                kind=EventKind.JOB_UPDATE,
                actor=actor,
                actor_label=actor_label,
                note=public_note,
                public=True,
                data={"assignment": assignment.pk},
            )
        )
    for event in events:
        event.report_id = report.pk
    report_events_add(events=events)


def _completion_position(assignment, report, location: Point, data: dict) -> SupervisorFlag | None:
    """Record where the crew completed the job; a flag when it is too far from the report."""
    if location.srid and location.srid != 4326:
        location = location.transform(4326, clone=True)
    # Geodesic distance on the WGS84 ellipsoid: metres, whatever the latitude.
    _az, _back, metres = _GEOD.inv(location.x, location.y, report.location.x, report.location.y)
    assignment.completion_location = location
    assignment.completion_distance_m = metres
    limit = report.specific_category.proof_radius_m
    data["completion_distance_m"] = round(metres, 1)
    if metres <= limit:
        return None
    return SupervisorFlag(
        report=report,
        kind=FlagKind.FAR_COMPLETION,
        reason=f"completed {metres:.0f} m from the report; the limit is {limit} m",
    )
