"""Dispatch: a report's SLA clock and the crew that gets it, one report or a whole backlog.

Dispatch decides (fieldteams/dispatch.py ranks the eligible crews) and writes the assignment;
the report workflow (geo_ops.reports.workflow) applies the status change and its audit events.
`report_dispatch` is what the report core calls for every new report (registered in apps.py).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from geo_ops.db.prepared import PreparedStatement
from geo_ops.reports.models import EventKind, Report, Status
from geo_ops.reports.workflow import (
    Change,
    Event,
    Role,
    report_due_set,
    report_status_change,
    reports_status_change,
)

from ..calendar import sla_due_at, working_calendar
from ..dispatch import Decision, Dispatcher, ReportFacts, candidates_for
from ..models import ACTIVE_STATES, Assignment, AssignmentState, Crew, FlagKind, SupervisorFlag
from .common import DISPATCH_ACTOR, PUBLIC_NOTES


def _facts(report: Report, due_at: datetime | None) -> ReportFacts:
    return ReportFacts(
        id=report.pk,
        lon=report.location.x,
        lat=report.location.y,
        category_id=report.category_id,
        subcategory_id=report.subcategory_id,
        branch_id=report.branch_id,
        due_at=due_at,
        specific_name=report.specific_category.name_en,
    )


def assigned_change(*, report: Report, assignment: Assignment, actor_label: str, actor=None):
    """The report's move to assigned for its new job: first the internal event of the decision
    (why this crew: dispatch's reason or a supervisor's override), then the public status
    change (the track page says so)."""
    decision = Event(
        kind=EventKind.DISPATCHED,
        actor=actor,
        actor_label=actor_label,
        note=assignment.reason,
        public=False,
        data={
            "assignment": assignment.pk,
            "crew": assignment.crew.code,
            "score": assignment.score,
            "distance_m": assignment.distance_m,
        },
    )
    return Change(
        report_id=report.pk,
        from_status=report.status,
        to_status=Status.ASSIGNED,
        note=PUBLIC_NOTES[AssignmentState.ASSIGNED],
        data={"assignment": assignment.pk, "crew": assignment.crew.code},
        before=[decision],
    )


def report_assign(
    *,
    report: Report,
    assignment: Assignment,
    role: str,
    actor_label: str,
    actor=None,
    due_at: datetime | None = None,
) -> None:
    """One report to assigned for its new job, through the workflow (assigned_change)."""
    change = assigned_change(
        report=report, assignment=assignment, actor_label=actor_label, actor=actor
    )
    report_status_change(
        report=report,
        to_status=change.to_status,
        role=role,
        actor=actor,
        actor_label=actor_label,
        note=change.note,
        data=change.data,
        due_at=due_at,
        before=change.before,
    )


# Intake's latency budget (bench/dispatch.py): the new job in one prepared statement, planned
# once per connection. The column list is complete for the NOT NULL columns without a database
# default.
ASSIGN_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_assign",
    """
    INSERT INTO fieldteams_assignment
        (report_id, crew_id, state, reason, score, distance_m, assigned_by_label,
         state_reason, completion_note, completion_photo)
    VALUES (%(report)s, %(crew)s, %(state)s, %(reason)s, %(score)s, %(distance_m)s, %(actor)s,
            '', '', '')
    RETURNING id, created_at
    """,
    {
        "report": "bigint",
        "crew": "bigint",
        "state": "text",
        "reason": "text",
        "score": "float8",
        "distance_m": "float8",
        "actor": "text",
    },
)
# No crew: the supervisor's flag (kept when one is already open).
NO_CREW_STATEMENT = PreparedStatement(
    "fieldteams_dispatch_flag_no_crew",
    """
    INSERT INTO fieldteams_supervisorflag (report_id, kind, reason, created_at)
    VALUES (%(report)s, %(kind)s, %(reason)s, statement_timestamp())
    ON CONFLICT DO NOTHING
    """,
    {"report": "bigint", "kind": "text", "reason": "text"},
)


def _assignment_insert(*, report: Report, decision: Decision, crew: Crew, actor_label: str):
    with connection.cursor() as cursor:
        ASSIGN_STATEMENT.execute(
            cursor,
            {
                "report": report.pk,
                "crew": crew.pk,
                "state": AssignmentState.ASSIGNED.value,
                "reason": decision.reason,
                "score": decision.score,
                "distance_m": decision.distance_m,
                "actor": actor_label,
            },
        )
        assignment_id, created_at = cursor.fetchone()
    assignment = Assignment(
        id=assignment_id,
        report=report,
        crew=crew,
        state=AssignmentState.ASSIGNED,
        reason=decision.reason,
        score=decision.score,
        distance_m=decision.distance_m,
        assigned_by_label=actor_label,
        created_at=created_at,
        state_changed_at=created_at,
    )
    assignment._state.adding = False
    return assignment


def report_dispatch(*, report: Report, actor_label: str = DISPATCH_ACTOR) -> Assignment | None:
    """Start the report's SLA clock on the business calendar and hand it to the best crew.

    The due time is the category's SLA hours of working time after receipt (kept when already
    set). No eligible crew: the report stays new and unassigned, with an open supervisor flag
    saying why. Returns the assignment, or None.
    """
    due_at = report.due_at or sla_due_at(
        sla_hours=report.specific_category.sla_hours, received_at=report.created_at
    )
    branch_name = report.branch.name_en if report.branch_id else ""
    candidates = candidates_for([report.pk], due={report.pk: due_at}).get(report.pk, [])
    decision = Dispatcher().decide(
        report=_facts(report, due_at), candidates=candidates, branch_name=branch_name
    )
    report.updated_at = timezone.now()
    if decision.crew_id is None:
        report_due_set(report=report, due_at=due_at)
        with connection.cursor() as cursor:
            NO_CREW_STATEMENT.execute(
                cursor,
                {
                    "report": report.pk,
                    "kind": FlagKind.NO_ELIGIBLE_CREW.value,
                    "reason": decision.reason,
                },
            )
        return None
    code = next(c.code for c in candidates if c.crew_id == decision.crew_id)
    crew = Crew(id=decision.crew_id, code=code)
    assignment = _assignment_insert(
        report=report, decision=decision, crew=crew, actor_label=actor_label
    )
    report_assign(
        report=report,
        assignment=assignment,
        role=Role.DISPATCH,
        actor_label=actor_label,
        due_at=due_at,
    )
    return assignment


@dataclass
class BacklogSummary:
    """What `dispatch_backlog` did."""

    considered: int = 0
    assigned: int = 0
    unassigned: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, decisions: list[Decision]) -> None:
        self.considered += len(decisions)
        for decision in decisions:
            if decision.crew_id is not None:
                self.assigned += 1
                continue
            self.unassigned += 1
            key = decision.reason.split(":")[0].split(" (")[0]
            self.reasons[key] = self.reasons.get(key, 0) + 1


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
    (microseconds each); eligibility, workloads and distances come from one statement for the
    whole batch; assignments and flags are bulk inserts, and the workflow writes the statuses,
    due times and events in one statement. The ranking runs report by report so that each sees
    the jobs handed out before it.
    """
    summary = BacklogSummary()
    ids = backlog_ids(branch_codes=branch_codes, limit=limit)
    dispatcher = Dispatcher()
    calendar = working_calendar()
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            decisions = _dispatch_batch(
                ids[start : start + batch_size],
                dispatcher=dispatcher,
                calendar=calendar,
                actor_label=actor_label,
            )
        summary.add(decisions)
    return summary


def _locked_batch(ids: list[int]) -> list[Report]:
    """The batch's reports still waiting, locked, in the order of `ids`.

    Locked and re-checked: a crew or a supervisor may have acted since the ids were listed.
    """
    reports = list(
        Report.objects.select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .select_for_update(of=("self",), skip_locked=True)
        .filter(pk__in=ids, status=Status.NEW)
        .exclude(assignments__state__in=ACTIVE_STATES)
    )
    position = {report_id: n for n, report_id in enumerate(ids)}
    reports.sort(key=lambda r: position[r.pk])
    return reports


def _dispatch_batch(ids, *, dispatcher, calendar, actor_label) -> list[Decision]:
    reports = _locked_batch(ids)
    if not reports:
        return []
    due = {
        r.pk: calendar.add_working_hours(r.created_at, r.specific_category.sla_hours)
        for r in reports
    }
    candidates = candidates_for([r.pk for r in reports], due=due)
    decisions = [
        dispatcher.decide(
            report=_facts(report, due[report.pk]),
            candidates=candidates.get(report.pk, []),
            branch_name=report.branch.name_en if report.branch_id else "",
        )
        for report in reports
    ]
    chosen = [(r, d) for r, d in zip(reports, decisions, strict=True) if d.crew_id is not None]
    assignments = _assignments_create(chosen, actor_label=actor_label)
    changes = [
        assigned_change(report=report, assignment=assignment, actor_label=actor_label)
        for (report, _decision), assignment in zip(chosen, assignments, strict=True)
    ]
    reports_status_change(changes=changes, role=Role.DISPATCH, actor_label=actor_label, due=due)
    _flags_update(reports, decisions)
    return decisions


def _assignments_create(chosen, *, actor_label: str) -> list[Assignment]:
    crews = Crew.objects.in_bulk({d.crew_id for _r, d in chosen})
    return Assignment.objects.bulk_create(
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


def _flags_update(reports: list[Report], decisions: list[Decision]) -> None:
    """Resolve the no-crew flags of the reports that got one; open them for the others."""
    pairs = list(zip(reports, decisions, strict=True))
    SupervisorFlag.objects.filter(
        report__in=[r for r, d in pairs if d.crew_id is not None],
        kind=FlagKind.NO_ELIGIBLE_CREW,
        resolved_at=None,
    ).update(resolved_at=timezone.now())
    SupervisorFlag.objects.bulk_create(
        [
            SupervisorFlag(report=r, kind=FlagKind.NO_ELIGIBLE_CREW, reason=d.reason)
            for r, d in pairs
            if d.crew_id is None
        ],
        ignore_conflicts=True,
    )
