"""Supervisors' actions (reassign, cancel, merge, close, reopen, flags) and overdue escalation.

Each checks what only fieldteams knows (crews, jobs, flags) and hands the report's change to the
report workflow, which refuses a transition its table does not allow.
"""

from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from geo_ops.reports.models import OPEN_STATUSES, EventKind, Report, Status
from geo_ops.reports.workflow import (
    Event,
    Role,
    WorkflowError,
    report_mark_duplicate,
    report_status_change,
    reports_escalate,
)

from ..calendar import sla_due_at
from ..models import ACTIVE_STATES, Assignment, Crew, FlagKind, SupervisorFlag
from .common import active_assignment, assignment_cancel, locked_report
from .dispatch import report_assign, report_dispatch


def _flags_resolve(report: Report, *, actor, kind: str | None = None) -> None:
    flags = SupervisorFlag.objects.filter(report=report, resolved_at=None)
    if kind is not None:
        flags = flags.filter(kind=kind)
    flags.update(resolved_at=timezone.now(), resolved_by=actor)


def _required(text: str, *, message: str, field: str = "reason") -> str:
    text = (text or "").strip()
    if not text:
        raise WorkflowError(message, code="required", field=field)
    return text


@transaction.atomic
def job_reassign(*, report: Report, crew: Crew, actor, actor_label: str, reason: str) -> Assignment:
    """A supervisor gives the report to `crew` (any active crew: an override of dispatch)."""
    report = locked_report(report)
    if report.status not in OPEN_STATUSES:
        raise WorkflowError(f"A {report.status} report cannot be reassigned.", code="not_open")
    if not crew.active:
        raise WorkflowError(f"Crew {crew.code} is not active.", code="inactive_crew", field="crew")
    reason = (reason or "").strip()
    current = active_assignment(report)
    if current is not None:
        if current.crew_id == crew.pk:
            raise WorkflowError(
                f"The job is already {crew.code}'s.", code="same_crew", field="crew"
            )
        assignment_cancel(
            current,
            reason=f"reassigned to {crew.code} by {actor_label}: {reason}",
            now=timezone.now(),
        )
    assignment = Assignment.objects.create(
        report=report,
        crew=crew,
        reason=f"reassigned by {actor_label}" + (f": {reason}" if reason else ""),
        assigned_by_label=actor_label,
    )
    report_assign(
        report=report,
        assignment=assignment,
        role=Role.SUPERVISOR,
        actor=actor,
        actor_label=actor_label,
    )
    _flags_resolve(report, actor=actor, kind=FlagKind.NO_ELIGIBLE_CREW)
    return assignment


@transaction.atomic
def report_cancel(*, report: Report, actor, actor_label: str, reason: str) -> Report:
    """A supervisor cancels the work: the active job is cancelled and the report rejected."""
    reason = _required(reason, message="Say why the job is cancelled.")
    report = locked_report(report)
    if report.status not in (*OPEN_STATUSES, Status.RESOLVED):
        raise WorkflowError(f"A {report.status} report cannot be cancelled.", code="not_open")
    current = active_assignment(report)
    if current is not None:
        assignment_cancel(current, reason=reason, now=timezone.now())
    note = Event(
        kind=EventKind.NOTE,
        actor=actor,
        actor_label=actor_label,
        note=f"Cancelled by {actor_label}: {reason}",
        public=False,
        data={"assignment": current.pk if current else None},
    )
    report_status_change(
        report=report,
        to_status=Status.REJECTED,
        role=Role.SUPERVISOR,
        actor=actor,
        actor_label=actor_label,
        note="Closed without field work by the supervisor.",
        before=[note],
    )
    _flags_resolve(report, actor=actor)
    return report


def _merge_check(report: Report, into: Report) -> None:
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


@transaction.atomic
def report_merge(*, report: Report, into: Report, actor, actor_label: str) -> Report:
    """A supervisor merges `report` into `into` (the same problem reported twice): `report`
    becomes a duplicate of it, its job is cancelled, and `into` counts its reports."""
    if report.pk == into.pk:
        raise WorkflowError("A report cannot be merged into itself.", code="same", field="into")
    report, into = locked_report(report), locked_report(into)
    _merge_check(report, into)
    current = active_assignment(report)
    if current is not None:
        assignment_cancel(current, reason=f"merged into {into.tracking_number}", now=timezone.now())
    report_mark_duplicate(
        report=report,
        original=into,
        role=Role.SUPERVISOR,
        actor=actor,
        actor_label=actor_label,
        base_priority=into.specific_category.default_priority,
        data={"merged_by": actor_label},
    )
    _flags_resolve(report, actor=actor)
    return report


@transaction.atomic
def report_close(*, report: Report, actor, actor_label: str, note: str = "") -> Report:
    """A supervisor accepts the crew's work: resolved -> closed (open flags are resolved)."""
    report = locked_report(report)
    if report.status != Status.RESOLVED:
        raise WorkflowError(
            f"Only a resolved report can be closed (this one is {report.status}).",
            code="not_resolved",
        )
    report_status_change(
        report=report,
        to_status=Status.CLOSED,
        role=Role.SUPERVISOR,
        actor=actor,
        actor_label=actor_label,
        note="Closed: the work was checked." if not note else f"Closed: {note}",
    )
    _flags_resolve(report, actor=actor)
    return report


@transaction.atomic
def report_reopen(*, report: Report, actor, actor_label: str, reason: str) -> Assignment | None:
    """A supervisor sends a resolved or closed report back to work: new SLA clock from now,
    dispatched again (the crews that declined it stay out)."""
    reason = _required(reason, message="Say why the report is reopened.")
    report = locked_report(report)
    if report.status not in (Status.RESOLVED, Status.CLOSED):
        raise WorkflowError(
            f"Only a resolved or closed report can be reopened (this one is {report.status}).",
            code="not_finished",
        )
    report_status_change(
        report=report,
        to_status=Status.NEW,
        role=Role.SUPERVISOR,
        actor=actor,
        actor_label=actor_label,
        note="Reopened: more work is needed.",
        data={"reason": reason},
        due_at=sla_due_at(sla_hours=report.specific_category.sla_hours, received_at=timezone.now()),
    )
    return report_dispatch(report=report, actor_label=actor_label)


@transaction.atomic
def flag_resolve(*, flag: SupervisorFlag, actor) -> SupervisorFlag:
    """A supervisor has looked at the flag."""
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.resolved_by = actor
        flag.save(update_fields=["resolved_at", "resolved_by"])
    return flag


# Raw SQL: flag every newly overdue report in one statement (the flags' reasons come back for
# the workflow, which raises and audits the same reports). A report already flagged overdue
# (open flag) is left alone, so running it every few minutes escalates each overdue report once.
OVERDUE_FLAGS_SQL = f"""
WITH overdue AS (
    SELECT r.id, r.due_at FROM reports_report AS r
    WHERE r.status IN %(open)s AND r.due_at < %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM fieldteams_supervisorflag AS f
          WHERE f.report_id = r.id AND f.kind = %(kind)s AND f.resolved_at IS NULL)
)
INSERT INTO fieldteams_supervisorflag (report_id, assignment_id, kind, reason, created_at)
SELECT o.id, a.id, %(kind)s,
       'overdue since ' || to_char(o.due_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD HH24:MI'),
       statement_timestamp()
FROM overdue AS o
LEFT JOIN fieldteams_assignment AS a
  ON a.report_id = o.id AND a.state IN ({", ".join(f"'{s.value}'" for s in ACTIVE_STATES)})
ON CONFLICT DO NOTHING
RETURNING report_id, reason
"""


def escalate_overdue(*, now: datetime | None = None, actor_label: str = "escalate_overdue") -> int:
    """Flag every open report past its due time for its supervisor, raise its priority one
    level (at most urgent) and audit it; returns how many were escalated."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                OVERDUE_FLAGS_SQL,
                {
                    "open": tuple(s.value for s in OPEN_STATUSES),
                    "now": now or timezone.now(),
                    "kind": FlagKind.OVERDUE.value,
                    "tz": settings.TIME_ZONE,
                },
            )
            reasons = dict(cursor.fetchall())
        return reports_escalate(reasons=reasons, actor_label=actor_label)
