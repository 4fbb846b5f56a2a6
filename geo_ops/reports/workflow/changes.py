"""The workflow's services: every change of a report's status or audit trail is one of these."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..choices import OPEN_STATUSES, EventKind, Status
from ..models import Report
from ..signals import StatusChange, report_status_changed
from . import writes
from .transitions import CLOSING_STATUSES, CREATED, transition_rule
from .writes import Event, Row


@dataclass
class Change:
    """One report's status change in a set (reports_status_change): its status as the caller
    locked it, the new one, the status event's note/public/data, and the events of the same
    action written just before the status event."""

    report_id: int
    from_status: str
    to_status: str
    note: str = ""
    public: bool | None = None
    data: dict = field(default_factory=dict)
    before: Sequence[Event] = ()


@transaction.atomic(savepoint=False)
def _write(*, rows: list[Row], events: list[Event]) -> None:
    """The checked changes' one statement. atomic(savepoint=False): inside the caller's
    transaction (intake, a supervisor's action) a failed status guard rolls all of it back, and
    no savepoint costs two more round trips on every intake (bench/live_intake.py); called on
    its own, one transaction. A refused transition raises before this, touching nothing."""
    writes.apply(rows=rows, events=events)


def _announce(changes: list[StatusChange]) -> None:
    """Send the domain event once the surrounding transaction commits."""
    if changes:
        transaction.on_commit(
            lambda: report_status_changed.send(sender=Report, changes=changes), robust=True
        )


def _status_events(
    changes: Sequence[Change], *, role: str, actor_label: str, actor
) -> tuple[list[Event], list[StatusChange]]:
    """The events of `changes` in order, each checked against the transition table."""
    events, announced = [], []
    for change in changes:
        rule = transition_rule(
            from_status=change.from_status, to_status=change.to_status, role=role
        )
        public = rule.public if change.public is None else change.public
        for before in change.before:
            before.report_id = change.report_id
        events += [
            *change.before,
            Event(
                report_id=change.report_id,
                kind=EventKind.STATUS_CHANGED,
                actor=actor,
                actor_label=actor_label,
                from_status=str(change.from_status),
                to_status=str(change.to_status),
                note=change.note,
                public=public,
                data=change.data,
            ),
        ]
        announced.append(
            StatusChange(
                report_id=change.report_id,
                from_status=str(change.from_status),
                to_status=str(change.to_status),
                actor_label=actor_label,
                public=public,
            )
        )
    return events, announced


def reports_status_change(
    *,
    changes: Sequence[Change],
    role: str,
    actor_label: str,
    actor=None,
    due: dict[int, datetime] | None = None,
) -> None:
    """Move many reports (locked by the caller) at once, each with its events, in one
    statement; `due` also restarts the SLA clock of reports whose status stays (dispatch's
    backlog: every report gets its due time, the assigned ones their new status)."""
    events, announced = _status_events(changes, role=role, actor_label=actor_label, actor=actor)
    due = dict(due or {})
    rows = [
        Row(c.report_id, c.from_status, c.to_status, due.pop(c.report_id, None)) for c in changes
    ]
    rows += [Row(report_id, due_at=due_at) for report_id, due_at in due.items()]
    _write(rows=rows, events=events)
    _announce(announced)


def report_status_change(
    *,
    report: Report,
    to_status: str,
    role: str,
    actor_label: str,
    actor=None,
    note: str = "",
    public: bool | None = None,
    data: dict | None = None,
    due_at: datetime | None = None,
    duplicate_of: Report | None = None,
    before: Sequence[Event] = (),
) -> Report:
    """Move `report` (locked by the caller, or created in this transaction) to `to_status`
    with its audit event, if the transition table lets `role` do it; otherwise WorkflowError.

    `public` defaults to the transition's; `due_at` restarts the SLA clock; `duplicate_of` is
    the original of a report becoming a duplicate; `before` are events of the same action
    written just before the status event (e.g. the crew's internal job update). Updates
    `report` in memory.
    """
    change = Change(
        report_id=report.pk,
        from_status=str(report.status),
        to_status=str(to_status),
        note=note,
        public=public,
        data=data or {},
        before=before,
    )
    events, announced = _status_events([change], role=role, actor_label=actor_label, actor=actor)
    original_id = duplicate_of.pk if duplicate_of is not None else None
    row = Row(report.pk, change.from_status, change.to_status, due_at, original_id)
    _write(rows=[row], events=events)
    report.status = to_status
    if to_status in CLOSING_STATUSES:
        report.closed_at = timezone.now()
    elif to_status in OPEN_STATUSES:
        report.closed_at = None
    if due_at is not None:
        report.due_at = due_at
    if duplicate_of is not None:
        report.duplicate_of = duplicate_of
    _announce(announced)
    return report


def report_events_add(*, events: Sequence[Event]) -> None:
    """Write events that change no status (a crew's progress, a dispatch decision, a note);
    each report they are about counts as updated (updated_at: `updated_after`, Open311)."""
    if any(e.to_status for e in events):
        raise ValueError("A status event goes through report_status_change.")
    if events:
        touched = dict.fromkeys(e.report_id for e in events)
        writes.apply(rows=[Row(report_id) for report_id in touched], events=events)


def report_due_set(*, report: Report, due_at: datetime) -> None:
    """Start the report's SLA clock; its status stays."""
    writes.apply(rows=[Row(report.pk, due_at=due_at)], events=[])
    report.due_at = due_at


def report_insert(*, report: Report, role: str, events: Sequence[Event]) -> Report:
    """Store the new (unsaved) `report` with its first `events`, the first of which is its
    creation with its initial status; sets the report's id and tracking number."""
    first = events[0]
    rule = transition_rule(from_status=CREATED, to_status=report.status, role=role)
    if first.kind != EventKind.CREATED or first.to_status != report.status:
        raise ValueError("A report's first event is its creation, with its initial status.")
    writes.insert(report=report, events=events)
    created = StatusChange(
        report_id=report.pk,
        from_status=CREATED,
        to_status=str(report.status),
        actor_label=first.actor_label,
        public=rule.public and first.public,
    )
    _announce([created])
    return report


def report_reported_again(
    *, original: Report, duplicate: Report, base_priority: int, actor_label: str, actor=None
) -> Report:
    """`original` counts `duplicate` and the duplicate's own duplicates: its count grows, its
    priority follows the crowd rule, with an internal audit event."""
    writes.count_duplicate(
        original=original, added=1 + (duplicate.duplicate_count or 0), base_priority=base_priority
    )
    reports = original.duplicate_count + 1
    event = Event(
        report_id=original.pk,
        kind=EventKind.REPORTED_AGAIN,
        actor=actor,
        actor_label=actor_label,
        note=f"Reported again as {duplicate.tracking_number}; "
        f"{reports} reports, priority {original.priority}",
        data={
            "duplicate": duplicate.tracking_number,
            "reports": reports,
            "priority": original.priority,
        },
    )
    report_events_add(events=[event])
    return original


def already_reported_note(original: Report) -> str:
    """The public note on a duplicate, sending its reporter to the original."""
    return f"Already reported as {original.tracking_number}: follow that report."


@transaction.atomic(savepoint=False)
def report_mark_duplicate(
    *,
    report: Report,
    original: Report,
    role: str,
    actor_label: str,
    base_priority: int,
    actor=None,
    data: dict | None = None,
) -> Report:
    """`report` (open, locked) becomes a duplicate of `original`; its own duplicates now point
    at the original, which counts them all (report_reported_again)."""
    writes.duplicates_repoint(report=report, original=original)
    report_status_change(
        report=report,
        to_status=Status.DUPLICATE,
        role=role,
        actor=actor,
        actor_label=actor_label,
        note=already_reported_note(original),
        data={"duplicate_of": original.tracking_number, **(data or {})},
        duplicate_of=original,
    )
    report_reported_again(
        original=original,
        duplicate=report,
        base_priority=base_priority,
        actor_label=actor_label,
        actor=actor,
    )
    return report


def reports_escalate(*, reasons: dict[int, str], actor_label: str) -> int:
    """Raise the priority of each report in `reasons` (id -> why, e.g. "overdue since ...")
    one level, at most urgent, with an internal event; returns how many."""
    return writes.escalate(reasons=reasons, actor_label=actor_label) if reasons else 0


def reports_rejoin(*, layer: str, candidates_sql: str, params: dict) -> int:
    """Give each report of `candidates_sql` (id, old_id, new_id) its new boundary of `layer`
    where it differs, with an internal event each; returns how many moved."""
    return writes.rejoin(layer=layer, candidates_sql=candidates_sql, params=params)
