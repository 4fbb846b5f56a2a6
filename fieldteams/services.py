"""Writes of fieldteams: dispatch, the crew workflow, supervisors' actions, overdue escalation.

`report_dispatch(*, report)` is the one entry point from geo_ops.reports (intake calls it in the
same request and transaction). Everything else here is called by fieldteams' own API, commands
and tasks. Every change is written to the report's audit trail (ReportEvent): internal events
carry the details (crew, reason, notes), public ones a plain sentence for the track page and
Open311's status_notes.
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from pyproj import Geod

from geo_ops.db.prepared import PreparedStatement
from geo_ops.reports.models import (
    OPEN_STATUSES,
    EventKind,
    Priority,
    Report,
    ReportEvent,
    Status,
)

from .calendar import sla_due_at, working_calendar
from .dispatch import Decision, Dispatcher, ReportFacts, candidates_for
from .models import (
    ACTIVE_STATES,
    Assignment,
    AssignmentState,
    Crew,
    FlagKind,
    SupervisorFlag,
)

logger = logging.getLogger(__name__)
_GEOD = Geod(ellps="WGS84")

DISPATCH_ACTOR = "dispatch"
# Public sentences (the track page and Open311 show them; they never name a crew or a person).
PUBLIC_NOTES = {
    AssignmentState.ASSIGNED: "Assigned to a field crew.",
    AssignmentState.ACCEPTED: "A field crew accepted the job.",
    AssignmentState.EN_ROUTE: "A field crew is on the way.",
    AssignmentState.IN_PROGRESS: "Work has started.",
    AssignmentState.COMPLETED: "The field crew completed the work.",
}


class WorkflowError(Exception):
    """A transition or action that is not allowed; `code` says which rule, `field` what input."""

    def __init__(self, message: str, *, code: str = "invalid", field: str = "to"):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


# --- dispatch --------------------------------------------------------------------------------


def _facts(report: Report, due_at: datetime | None) -> ReportFacts:
    return ReportFacts(
        id=report.pk,
        lon=report.location.x,
        lat=report.location.y,
        category_id=report.category_id,
        subcategory_id=report.subcategory_id,
        branch_id=report.branch_id,
        due_at=due_at,
        specific_name=_specific(report).name_en,
    )


def _specific(report: Report):
    return report.subcategory if report.subcategory_id else report.category


def _assignment_events(
    *, report: Report, assignment: Assignment, decision_reason: str, actor_label: str, actor=None
) -> list[ReportEvent]:
    data = {"assignment": assignment.pk, "crew": assignment.crew.code}
    return [
        ReportEvent(
            report=report,
            actor=actor,
            actor_label=actor_label,
            kind=EventKind.DISPATCHED,
            note=decision_reason,
            public=False,
            data={**data, "score": assignment.score, "distance_m": assignment.distance_m},
        ),
        ReportEvent(
            report=report,
            actor=actor,
            actor_label=actor_label,
            kind=EventKind.STATUS_CHANGED,
            from_status=report.status,
            to_status=Status.ASSIGNED,
            note=PUBLIC_NOTES[AssignmentState.ASSIGNED],
            public=True,
            data=data,
        ),
    ]


# Intake's latency budget (bench/dispatch.py): the writes of a dispatch are one statement, one
# round trip instead of four (the assignment, the report's status and due time, and the two
# audit events: the decision with its reason, internal; the status change, public). Raw SQL
# because the ORM cannot chain data-modifying CTEs. Column lists are complete for the NOT NULL
# columns without a database default. Times are statement_timestamp(), as Django's Now() is on
# PostgreSQL (now() is the transaction's start): the audit trail keeps the order of events.
ASSIGN_SQL = """
WITH job AS (
    INSERT INTO fieldteams_assignment
        (report_id, crew_id, state, reason, score, distance_m, assigned_by_label,
         state_reason, completion_note, completion_photo)
    VALUES (%(report)s, %(crew)s, %(state)s, %(reason)s, %(score)s, %(distance_m)s, %(actor)s,
            '', '', '')
    RETURNING id, created_at
),
report AS (
    UPDATE reports_report
    SET status = %(to_status)s, due_at = %(due_at)s, updated_at = statement_timestamp()
    WHERE id = %(report)s
),
events AS (
    INSERT INTO reports_reportevent
        (report_id, created_at, actor_label, kind, from_status, to_status, note, public, data)
    SELECT %(report)s, statement_timestamp(), %(actor)s, %(dispatched)s, '', '', %(reason)s, false,
           %(data)s::jsonb || jsonb_build_object('assignment', job.id)
    FROM job
    UNION ALL
    SELECT %(report)s, statement_timestamp(), %(actor)s, %(status_changed)s, %(from_status)s,
           %(to_status)s, %(public_note)s, true,
           jsonb_build_object('assignment', job.id, 'crew', %(data)s::jsonb -> 'crew')
    FROM job
)
SELECT id, created_at FROM job
"""
# No crew: the due time, and the supervisor's flag (kept when one is already open).
UNASSIGNED_SQL = """
WITH report AS (
    UPDATE reports_report SET due_at = %(due_at)s, updated_at = statement_timestamp()
    WHERE id = %(report)s
)
INSERT INTO fieldteams_supervisorflag (report_id, kind, reason, created_at)
VALUES (%(report)s, %(kind)s, %(reason)s, statement_timestamp())
ON CONFLICT DO NOTHING
"""
# Both as prepared statements: planned once per connection, not on every intake.
ASSIGN_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_assign",
    ASSIGN_SQL,
    {
        "report": "bigint",
        "crew": "bigint",
        "state": "text",
        "reason": "text",
        "score": "float8",
        "distance_m": "float8",
        "actor": "text",
        "due_at": "timestamptz",
        "from_status": "text",
        "to_status": "text",
        "dispatched": "text",
        "status_changed": "text",
        "public_note": "text",
        "data": "text",
    },
)
UNASSIGNED_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_unassigned",
    UNASSIGNED_SQL,
    {"report": "bigint", "due_at": "timestamptz", "kind": "text", "reason": "text"},
)


def report_dispatch(*, report: Report, actor_label: str = DISPATCH_ACTOR) -> Assignment | None:
    """Start the report's SLA clock on the business calendar and hand it to the best crew.

    The due time is the category's SLA hours of working time after receipt (kept when already
    set). No eligible crew: the report stays new and unassigned, with an open supervisor flag
    saying why. Returns the assignment, or None.
    """
    if report.due_at is None:
        report.due_at = sla_due_at(
            sla_hours=_specific(report).sla_hours, received_at=report.created_at
        )
    branch_name = report.branch.name_en if report.branch_id else ""
    candidates = candidates_for([report.pk], due={report.pk: report.due_at}).get(report.pk, [])
    decision = Dispatcher().decide(
        report=_facts(report, report.due_at), candidates=candidates, branch_name=branch_name
    )
    now = timezone.now()
    if decision.crew_id is None:
        with connection.cursor() as cursor:
            UNASSIGNED_STATEMENT.execute(
                cursor,
                {
                    "report": report.pk,
                    "due_at": report.due_at,
                    "kind": FlagKind.NO_ELIGIBLE_CREW.value,
                    "reason": decision.reason,
                },
            )
        report.updated_at = now
        return None
    crew_code = next(c.code for c in candidates if c.crew_id == decision.crew_id)
    data = {"crew": crew_code, "score": decision.score, "distance_m": decision.distance_m}
    with connection.cursor() as cursor:
        ASSIGN_STATEMENT.execute(
            cursor,
            {
                "report": report.pk,
                "crew": decision.crew_id,
                "state": AssignmentState.ASSIGNED.value,
                "reason": decision.reason,
                "score": decision.score,
                "distance_m": decision.distance_m,
                "actor": actor_label,
                "due_at": report.due_at,
                "from_status": report.status,
                "to_status": Status.ASSIGNED.value,
                "dispatched": EventKind.DISPATCHED.value,
                "status_changed": EventKind.STATUS_CHANGED.value,
                "public_note": PUBLIC_NOTES[AssignmentState.ASSIGNED],
                "data": json.dumps(data),
            },
        )
        assignment_id, created_at = cursor.fetchone()
    assignment = Assignment(
        id=assignment_id,
        report=report,
        crew_id=decision.crew_id,
        state=AssignmentState.ASSIGNED,
        reason=decision.reason,
        score=decision.score,
        distance_m=decision.distance_m,
        assigned_by_label=actor_label,
        created_at=created_at,
        state_changed_at=created_at,
    )
    assignment._state.adding = False
    report.status = Status.ASSIGNED
    report.updated_at = now
    return assignment


@dataclass
class BacklogSummary:
    """What `dispatch_backlog` did."""

    considered: int = 0
    assigned: int = 0
    unassigned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def backlog_ids(*, branch_codes: Iterable[str] = (), limit: int | None = None) -> list[int]:
    """Reports waiting for a crew (new, not duplicates, no active job), most urgent first."""
    queryset = (
        Report.objects.filter(status=Status.NEW)
        .exclude(assignments__state__in=ACTIVE_STATES)
        .order_by("-priority", "due_at", "created_at", "id")
    )
    if branch_codes:
        queryset = queryset.filter(branch__code__in=list(branch_codes))
    ids = queryset.values_list("id", flat=True)
    return list(ids[:limit] if limit else ids)


def dispatch_backlog(
    *,
    batch_size: int = 500,
    limit: int | None = None,
    branch_codes: Iterable[str] = (),
    actor_label: str = "dispatch_backlog",
) -> BacklogSummary:
    """Dispatch every report still waiting for a crew (bulk imports, reports no crew could take,
    declined jobs), most urgent first, a batch per transaction.

    Set-based per batch: the SLA due times are recomputed on the business calendar in Python
    (microseconds each) and written with one UPDATE; eligibility, workloads and distances come
    from one statement for the whole batch; assignments, events and flags are bulk inserts. The
    ranking runs report by report so that each sees the jobs handed out before it.
    """
    summary = BacklogSummary()
    ids = backlog_ids(branch_codes=branch_codes, limit=limit)
    dispatcher = Dispatcher()
    calendar = working_calendar()
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            _dispatch_batch(
                ids[start : start + batch_size],
                dispatcher=dispatcher,
                calendar=calendar,
                actor_label=actor_label,
                summary=summary,
            )
    return summary


def _dispatch_batch(ids, *, dispatcher, calendar, actor_label, summary) -> None:
    # Locked and re-checked: a crew or a supervisor may have acted since the ids were listed.
    reports = list(
        Report.objects.select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .select_for_update(of=("self",), skip_locked=True)
        .filter(pk__in=ids, status=Status.NEW)
        .exclude(assignments__state__in=ACTIVE_STATES)
    )
    position = {report_id: n for n, report_id in enumerate(ids)}
    reports.sort(key=lambda r: position[r.pk])
    if not reports:
        return
    due = {r.pk: calendar.add_working_hours(r.created_at, _specific(r).sla_hours) for r in reports}
    candidates = candidates_for([r.pk for r in reports], due=due)
    decisions: list[tuple[Report, Decision]] = []
    for report in reports:
        decision = dispatcher.decide(
            report=_facts(report, due[report.pk]),
            candidates=candidates.get(report.pk, []),
            branch_name=report.branch.name_en if report.branch_id else "",
        )
        decisions.append((report, decision))
    now = timezone.now()
    chosen = [(r, d) for r, d in decisions if d.crew_id is not None]
    crews = Crew.objects.in_bulk({d.crew_id for _r, d in chosen})
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                report=r,
                crew=crews[d.crew_id],
                reason=d.reason,
                score=d.score,
                distance_m=d.distance_m,
                assigned_by_label=actor_label,
            )
            for r, d in chosen
        ]
    )
    events = []
    for (report, decision), assignment in zip(chosen, assignments, strict=True):
        events += _assignment_events(
            report=report,
            assignment=assignment,
            decision_reason=decision.reason,
            actor_label=actor_label,
        )
    ReportEvent.objects.bulk_create(events)
    with connection.cursor() as cursor:
        # One UPDATE for the batch: due times for all, status for the assigned.
        cursor.execute(
            """UPDATE reports_report AS r
            SET due_at = v.due_at, updated_at = statement_timestamp(),
                status = CASE WHEN v.assigned THEN %(assigned)s ELSE r.status END
            FROM unnest(%(ids)s::bigint[], %(dues)s::timestamptz[], %(flags)s::boolean[])
                AS v(id, due_at, assigned)
            WHERE r.id = v.id""",
            {
                "assigned": Status.ASSIGNED.value,
                "ids": [r.pk for r, _d in decisions],
                "dues": [due[r.pk] for r, _d in decisions],
                "flags": [d.crew_id is not None for _r, d in decisions],
            },
        )
    SupervisorFlag.objects.filter(
        report__in=[r for r, _d in chosen], kind=FlagKind.NO_ELIGIBLE_CREW, resolved_at=None
    ).update(resolved_at=now)
    SupervisorFlag.objects.bulk_create(
        [
            SupervisorFlag(report=r, kind=FlagKind.NO_ELIGIBLE_CREW, reason=d.reason)
            for r, d in decisions
            if d.crew_id is None
        ],
        ignore_conflicts=True,
    )
    summary.considered += len(decisions)
    summary.assigned += len(chosen)
    for _r, d in decisions:
        if d.crew_id is None:
            summary.unassigned += 1
            key = d.reason.split(":")[0].split(" (")[0]
            summary.reasons[key] = summary.reasons.get(key, 0) + 1


# --- the crew workflow -----------------------------------------------------------------------

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
# What a crew member may do; cancelling is a supervisor's (job_cancel, job_reassign).
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
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("crew", "report__category", "report__subcategory", "report__branch")
        .defer("report__branch__geom")
        .get(pk=assignment.pk)
    )
    report = assignment.report
    if _event_replayed(report.pk, client_id):
        return TransitionResult(assignment=assignment, replayed=True)
    to_state = str(to_state or "")
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
    note, reason = (note or "").strip(), (reason or "").strip()
    if to_state == S.COMPLETED and not note:
        raise WorkflowError("A completed job needs a note.", code="required", field="note")
    if to_state == S.DECLINED and not reason:
        raise WorkflowError("Say why the job is declined.", code="required", field="reason")
    if len(note) > 4000 or len(reason) > 4000:
        raise WorkflowError("At most 4000 characters.", code="too_long", field="note")

    now = timezone.now()
    from_state = assignment.state
    assignment.state = to_state
    assignment.state_changed_at = now
    data = {"assignment": assignment.pk, "crew": assignment.crew.code, "from": from_state}
    data["to"] = to_state
    if client_id:
        data["client_id"] = client_id
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
            flag = _completion_position(assignment, report, location, data)
    assignment.save()
    if assignment.completion_photo:
        data["photo"] = assignment.completion_photo.name
    if flag is not None:
        flag.assignment = assignment
        SupervisorFlag.objects.bulk_create([flag], ignore_conflicts=True)

    new_status = REPORT_STATUS[to_state]
    internal = {
        S.DECLINED: f"Declined by {assignment.crew.code}: {reason}",
        S.PAUSED: f"Paused by {assignment.crew.code}" + (f": {reason}" if reason else ""),
        S.COMPLETED: f"Completed by {assignment.crew.code}: {note}",
    }
    events = [
        ReportEvent(
            report=report,
            actor=actor,
            actor_label=actor_label,
            kind=EventKind.JOB_UPDATE,
            note=internal.get(to_state, f"{assignment.crew.code}: {from_state} -> {to_state}"),
            public=False,
            data=data,
        )
    ]
    public_note = PUBLIC_NOTES.get(to_state)
    if new_status != report.status or public_note:
        events.append(
            ReportEvent(
                report=report,
                actor=actor,
                actor_label=actor_label,
                kind=EventKind.STATUS_CHANGED
                if new_status != report.status
                else EventKind.JOB_UPDATE,
                from_status=report.status if new_status != report.status else "",
                to_status=new_status if new_status != report.status else "",
                note=public_note or "",
                # Back to dispatch after a decline is internal: the public sees the next crew.
                public=bool(public_note),
                data={"assignment": assignment.pk},
            )
        )
    ReportEvent.objects.bulk_create(events)
    report.status = new_status
    report.updated_at = now
    Report.objects.filter(pk=report.pk).update(status=new_status, updated_at=now)

    redispatched = None
    if to_state == S.DECLINED:
        # Back to dispatch; the crews that declined it are left out (dispatch.CANDIDATES_SQL).
        redispatched = report_dispatch(report=report)
    return TransitionResult(assignment=assignment, redispatched=redispatched, flagged=flag)


def _completion_position(assignment, report, location: Point, data: dict) -> SupervisorFlag | None:
    """Record where the crew completed the job; a flag when it is too far from the report."""
    if location.srid and location.srid != 4326:
        location = location.transform(4326, clone=True)
    # Geodesic distance on the WGS84 ellipsoid: metres, whatever the latitude.
    _az, _back, metres = _GEOD.inv(location.x, location.y, report.location.x, report.location.y)
    assignment.completion_location = location
    assignment.completion_distance_m = metres
    limit = _specific(report).proof_radius_m
    data["completion_distance_m"] = round(metres, 1)
    if metres <= limit:
        return None
    return SupervisorFlag(
        report=report,
        kind=FlagKind.FAR_COMPLETION,
        reason=f"completed {metres:.0f} m from the report; the limit is {limit} m",
    )


# --- supervisors' actions --------------------------------------------------------------------


def _active_assignment(report: Report) -> Assignment | None:
    return (
        Assignment.objects.select_for_update()
        .filter(report=report, state__in=ACTIVE_STATES)
        .select_related("crew")
        .first()
    )


def _locked_report(report: Report) -> Report:
    return (
        Report.objects.select_for_update(of=("self",))
        .select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .get(pk=report.pk)
    )


def _cancel(assignment: Assignment, *, reason: str, now) -> None:
    assignment.state = S.CANCELLED
    assignment.state_reason = reason
    assignment.state_changed_at = now
    assignment.save(update_fields=["state", "state_reason", "state_changed_at"])


def _event(report, *, actor, actor_label, kind, note, public, frm="", to="", data=None):
    return ReportEvent(
        report=report,
        actor=actor,
        actor_label=actor_label,
        kind=kind,
        from_status=frm,
        to_status=to,
        note=note,
        public=public,
        data=data or {},
    )


@transaction.atomic
def job_reassign(*, report: Report, crew: Crew, actor, actor_label: str, reason: str) -> Assignment:
    """A supervisor gives the report to `crew` (any active crew: an override of dispatch)."""
    report = _locked_report(report)
    if report.status not in OPEN_STATUSES:
        raise WorkflowError(f"A {report.status} report cannot be reassigned.", code="not_open")
    if not crew.active:
        raise WorkflowError(f"Crew {crew.code} is not active.", code="inactive_crew", field="crew")
    reason = (reason or "").strip()
    now = timezone.now()
    current = _active_assignment(report)
    if current is not None:
        if current.crew_id == crew.pk:
            raise WorkflowError(
                f"The job is already {crew.code}'s.", code="same_crew", field="crew"
            )
        _cancel(current, reason=f"reassigned to {crew.code} by {actor_label}: {reason}", now=now)
    assignment = Assignment.objects.create(
        report=report,
        crew=crew,
        reason=f"reassigned by {actor_label}" + (f": {reason}" if reason else ""),
        assigned_by_label=actor_label,
    )
    Report.objects.filter(pk=report.pk).update(status=Status.ASSIGNED, updated_at=now)
    events = _assignment_events(
        report=report,
        assignment=assignment,
        decision_reason=assignment.reason,
        actor_label=actor_label,
        actor=actor,
    )
    report.status = Status.ASSIGNED
    ReportEvent.objects.bulk_create(events)
    SupervisorFlag.objects.filter(
        report=report, kind=FlagKind.NO_ELIGIBLE_CREW, resolved_at=None
    ).update(resolved_at=now, resolved_by=actor)
    return assignment


@transaction.atomic
def report_cancel(*, report: Report, actor, actor_label: str, reason: str) -> Report:
    """A supervisor cancels the work: the active job is cancelled and the report rejected."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("Say why the job is cancelled.", code="required", field="reason")
    report = _locked_report(report)
    if report.status not in (*OPEN_STATUSES, Status.RESOLVED):
        raise WorkflowError(f"A {report.status} report cannot be cancelled.", code="not_open")
    now = timezone.now()
    current = _active_assignment(report)
    if current is not None:
        _cancel(current, reason=reason, now=now)
    previous = report.status
    Report.objects.filter(pk=report.pk).update(
        status=Status.REJECTED, updated_at=now, closed_at=now
    )
    ReportEvent.objects.bulk_create(
        [
            _event(
                report,
                actor=actor,
                actor_label=actor_label,
                kind=EventKind.NOTE,
                note=f"Cancelled by {actor_label}: {reason}",
                public=False,
                data={"assignment": current.pk if current else None},
            ),
            _event(
                report,
                actor=actor,
                actor_label=actor_label,
                kind=EventKind.STATUS_CHANGED,
                note="Closed without field work by the supervisor.",
                public=True,
                frm=previous,
                to=Status.REJECTED,
            ),
        ]
    )
    SupervisorFlag.objects.filter(report=report, resolved_at=None).update(
        resolved_at=now, resolved_by=actor
    )
    report.status, report.closed_at = Status.REJECTED, now
    return report


@transaction.atomic
def report_merge(*, report: Report, into: Report, actor, actor_label: str) -> Report:
    """A supervisor merges `report` into `into` (the same problem reported twice): `report`
    becomes a duplicate of it, its job is cancelled, and `into` counts its reports."""
    from geo_ops.reports.services import report_reported_again

    if report.pk == into.pk:
        raise WorkflowError("A report cannot be merged into itself.", code="same", field="into")
    report, into = _locked_report(report), _locked_report(into)
    if report.status not in OPEN_STATUSES:
        raise WorkflowError(f"A {report.status} report cannot be merged.", code="not_open")
    if into.status not in (*OPEN_STATUSES, Status.RESOLVED):
        raise WorkflowError(
            f"Report {into.tracking_number} is {into.status}.", code="not_open", field="into"
        )
    if into.category_id != report.category_id:
        raise WorkflowError(
            "Only reports of the same category can be merged.", code="category", field="into"
        )
    now = timezone.now()
    current = _active_assignment(report)
    if current is not None:
        _cancel(current, reason=f"merged into {into.tracking_number}", now=now)
    # The merged report's own duplicates now point at the surviving report.
    Report.objects.filter(duplicate_of=report).update(duplicate_of=into)
    Report.objects.filter(pk=report.pk).update(
        status=Status.DUPLICATE, duplicate_of=into, updated_at=now
    )
    report_reported_again(
        original=into,
        duplicate=report,
        base_priority=_specific(into).default_priority,
        actor_label=actor_label,
        actor=actor,
        from_status=report.status,
        event_data={"merged_by": actor_label},
    )
    SupervisorFlag.objects.filter(report=report, resolved_at=None).update(
        resolved_at=now, resolved_by=actor
    )
    report.status, report.duplicate_of = Status.DUPLICATE, into
    return report


@transaction.atomic
def report_close(*, report: Report, actor, actor_label: str, note: str = "") -> Report:
    """A supervisor accepts the crew's work: resolved -> closed (open flags are resolved)."""
    report = _locked_report(report)
    if report.status != Status.RESOLVED:
        raise WorkflowError(
            f"Only a resolved report can be closed (this one is {report.status}).",
            code="not_resolved",
        )
    now = timezone.now()
    Report.objects.filter(pk=report.pk).update(status=Status.CLOSED, closed_at=now, updated_at=now)
    _event(
        report,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.STATUS_CHANGED,
        note="Closed: the work was checked." if not note else f"Closed: {note}",
        public=True,
        frm=Status.RESOLVED,
        to=Status.CLOSED,
    ).save()
    SupervisorFlag.objects.filter(report=report, resolved_at=None).update(
        resolved_at=now, resolved_by=actor
    )
    report.status, report.closed_at = Status.CLOSED, now
    return report


@transaction.atomic
def report_reopen(*, report: Report, actor, actor_label: str, reason: str) -> Assignment | None:
    """A supervisor sends a resolved or closed report back to work: new SLA clock from now,
    dispatched again (the crews that declined it stay out)."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("Say why the report is reopened.", code="required", field="reason")
    report = _locked_report(report)
    if report.status not in (Status.RESOLVED, Status.CLOSED):
        raise WorkflowError(
            f"Only a resolved or closed report can be reopened (this one is {report.status}).",
            code="not_finished",
        )
    now = timezone.now()
    previous = report.status
    report.due_at = sla_due_at(sla_hours=_specific(report).sla_hours, received_at=now)
    Report.objects.filter(pk=report.pk).update(
        status=Status.NEW, closed_at=None, due_at=report.due_at, updated_at=now
    )
    _event(
        report,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.STATUS_CHANGED,
        note="Reopened: more work is needed.",
        public=True,
        frm=previous,
        to=Status.NEW,
        data={"reason": reason},
    ).save()
    report.status, report.closed_at = Status.NEW, None
    return report_dispatch(report=report, actor_label=actor_label)


@transaction.atomic
def flag_resolve(*, flag: SupervisorFlag, actor) -> SupervisorFlag:
    """A supervisor has looked at the flag."""
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolved_by = actor
        flag.save(update_fields=["resolved_at", "resolved_by"])
    return flag


# --- overdue ---------------------------------------------------------------------------------

# Raw SQL: flag, raise and audit every newly overdue report in one statement (data-modifying
# CTEs, which the ORM cannot chain). A report already flagged overdue (open flag) is left alone,
# so running it every few minutes raises each overdue report's priority once.
ESCALATE_SQL = f"""
WITH overdue AS (
    SELECT r.id, r.due_at FROM reports_report AS r
    WHERE r.status IN %(open)s AND r.due_at < %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM fieldteams_supervisorflag AS f
          WHERE f.report_id = r.id AND f.kind = %(kind)s AND f.resolved_at IS NULL)
),
flagged AS (
    INSERT INTO fieldteams_supervisorflag (report_id, assignment_id, kind, reason, created_at)
    SELECT o.id, a.id, %(kind)s,
           'overdue since ' || to_char(o.due_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI'),
           statement_timestamp()
    FROM overdue AS o
    LEFT JOIN fieldteams_assignment AS a
      ON a.report_id = o.id AND a.state IN ({", ".join(f"'{s.value}'" for s in ACTIVE_STATES)})
    ON CONFLICT DO NOTHING
    RETURNING report_id, reason
),
raised AS (
    UPDATE reports_report AS r
    SET priority = LEAST(%(urgent)s, r.priority + 1), updated_at = statement_timestamp()
    FROM flagged AS f WHERE r.id = f.report_id
    RETURNING r.id, r.status, r.priority, f.reason
)
INSERT INTO reports_reportevent
    (report_id, created_at, actor_label, kind, from_status, to_status, note, public, data)
SELECT id, statement_timestamp(), %(actor)s, %(event_kind)s, '', '',
       initcap(reason) || '; priority raised to ' || priority, false,
       jsonb_build_object('priority', priority)
FROM raised
"""


def escalate_overdue(*, now: datetime | None = None, actor_label: str = "escalate_overdue") -> int:
    """Flag every open report past its due time for its supervisor, raise its priority one
    level (at most urgent) and audit it; returns how many were escalated."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            ESCALATE_SQL,
            {
                "open": tuple(s.value for s in OPEN_STATUSES),
                "now": now or timezone.now(),
                "kind": FlagKind.OVERDUE.value,
                "tz": settings.TIME_ZONE,
                "urgent": int(Priority.URGENT),
                "actor": actor_label,
                "event_kind": EventKind.ESCALATED.value,
            },
        )
        return cursor.rowcount


# --- crews from a file -----------------------------------------------------------------------

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass
class CrewLoadSummary:
    """What `crews_load` did or, in a dry run, would do; `errors` name crew and field."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _crew_errors(item: dict, *, departments, categories, branches) -> list[str]:
    code = item.get("code") or "?"
    errors = []
    for key in ("code", "name_en", "name_ar", "department", "skills", "branches", "depot"):
        if not item.get(key):
            errors.append(f"{code}: {key} is required")
    if item.get("department") and item["department"] not in departments:
        errors.append(f"{code}: unknown department {item['department']!r}")
    for skill in item.get("skills") or []:
        if skill not in categories:
            errors.append(f"{code}: unknown category {skill!r}")
    for branch in item.get("branches") or []:
        if branch not in branches:
            errors.append(f"{code}: unknown branch municipality {branch!r}")
    depot = item.get("depot")
    if depot and not (
        isinstance(depot, list)
        and len(depot) == 2
        and all(isinstance(v, int | float) for v in depot)
        and -180 <= depot[0] <= 180
        and -90 <= depot[1] <= 90
    ):
        errors.append(f"{code}: depot must be [longitude, latitude]")
    capacity = item.get("capacity_per_shift", 8)
    if not isinstance(capacity, int) or capacity < 1:
        errors.append(f"{code}: capacity_per_shift must be a whole number above 0")
    for shift in item.get("shifts") or []:
        days = shift.get("days") or []
        if not days or any(day not in WEEKDAYS for day in days):
            errors.append(f"{code}: shift days must be among {', '.join(WEEKDAYS)}")
        for key in ("starts", "ends"):
            try:
                datetime.strptime(shift.get(key, ""), "%H:%M")
            except (TypeError, ValueError):
                errors.append(f"{code}: shift {key} must be HH:MM")
    return errors


def crews_load(*, items: list[dict], commit: bool) -> CrewLoadSummary:
    """Upsert crews (with skills, branches, depot and weekly shifts) by code.

    Everything is checked first, including that each depot lies inside one of the crew's branch
    municipalities (one set-based query over the subdivided boundaries); with any error nothing
    is written. Without `commit` nothing is written either: a dry run.
    """
    from geo_ops.reports.models import Category
    from layers.models import BranchMunicipality

    from .models import CrewShift, Department

    summary = CrewLoadSummary()
    departments = dict(Department.objects.values_list("code", "id"))
    categories = dict(Category.objects.values_list("code", "id"))
    branches = dict(BranchMunicipality.objects.values_list("code", "id"))
    seen = set()
    for item in items:
        if item.get("code") in seen:
            summary.errors.append(f"{item['code']}: the code appears twice")
        seen.add(item.get("code"))
        summary.errors += _crew_errors(
            item, departments=departments, categories=categories, branches=branches
        )
    if summary.errors:
        return summary
    # Which of each crew's branches contains its depot: one statement for the whole file.
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT v.code, array_agg(DISTINCT p.branch_id)
            FROM unnest(%(codes)s::text[], %(lons)s::float8[], %(lats)s::float8[])
                AS v(code, lon, lat)
            LEFT JOIN layers_branchmunicipalitypiece AS p
              ON ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326))
            GROUP BY v.code""",
            {
                "codes": [i["code"] for i in items],
                "lons": [float(i["depot"][0]) for i in items],
                "lats": [float(i["depot"][1]) for i in items],
            },
        )
        inside = {code: {b for b in ids if b} for code, ids in cursor.fetchall()}
    for item in items:
        if not inside.get(item["code"], set()) & {branches[b] for b in item["branches"]}:
            summary.errors.append(
                f"{item['code']}: depot {item['depot']} is outside its branch municipalities"
            )
    if summary.errors:
        return summary
    existing = set(Crew.objects.filter(code__in=seen).values_list("code", flat=True))
    for item in items:
        (summary.updated if item["code"] in existing else summary.created).append(item["code"])
    if not commit:
        return summary
    with transaction.atomic():
        for item in items:
            crew, _created = Crew.objects.update_or_create(
                code=item["code"],
                defaults={
                    "name_en": item["name_en"],
                    "name_ar": item["name_ar"],
                    "department_id": departments[item["department"]],
                    "depot": Point(*map(float, item["depot"]), srid=4326),
                    "capacity_per_shift": item.get("capacity_per_shift", 8),
                    "active": item.get("active", True),
                },
            )
            crew.skills.set([categories[c] for c in item["skills"]])
            crew.branches.set([branches[b] for b in item["branches"]])
            crew.shifts.all().delete()
            CrewShift.objects.bulk_create(
                [
                    CrewShift(
                        crew=crew,
                        weekday=WEEKDAYS[day],
                        starts=shift["starts"],
                        ends=shift["ends"],
                        works_holidays=shift.get("works_holidays", False),
                    )
                    for shift in item.get("shifts") or []
                    for day in shift["days"]
                ]
            )
    return summary
