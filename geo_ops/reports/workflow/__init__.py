"""The report workflow: the one writer of a report's status and of its audit trail.

Every status a report can move to, who may move it there and whether the public sees the change
is in `transitions.TRANSITIONS`. Every change goes through `changes`: `report_status_change` for
one report, `reports_status_change` for many at once (dispatch's backlog), `report_events_add`
for events that change no status (a crew's progress, a dispatch decision), `report_insert` for a
new report with its first events, and the few set-based writes that also audit (escalation, the
re-join after a boundary update, a duplicate counted on its original). The SQL of all of them is
in `writes`; nothing else in the code base runs an UPDATE of `reports_report.status` or an
INSERT into `reports_reportevent` (tests/test_architecture.py checks it).

Each status change sends `report_status_changed` (geo_ops/reports/signals.py) once its
transaction commits: dispatch, notifications, follow-up and statistics subscribe there instead
of being called from every place that changes a status. Compare Amsterdam/signals
(`workflow.ALLOWED_STATUS_CHANGES`, `Signal.actions`).

The bulk import is the one other creator of reports: it inserts historical rows with the status
their source recorded and no events (its ImportBatch is their audit record).
"""

from .changes import (
    Change,
    already_reported_note,
    report_due_set,
    report_events_add,
    report_insert,
    report_mark_duplicate,
    report_reported_again,
    report_status_change,
    reports_escalate,
    reports_rejoin,
    reports_status_change,
)
from .transitions import TRANSITIONS, Role, WorkflowError, transition_rule
from .writes import Event

__all__ = [
    "TRANSITIONS",
    "Change",
    "Event",
    "Role",
    "WorkflowError",
    "already_reported_note",
    "report_due_set",
    "report_events_add",
    "report_insert",
    "report_mark_duplicate",
    "report_reported_again",
    "report_status_change",
    "reports_escalate",
    "reports_rejoin",
    "reports_status_change",
    "transition_rule",
]
