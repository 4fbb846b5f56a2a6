"""Writes of fieldteams: dispatch, the crew workflow, supervisors' actions, crews from a file.

`report_dispatch(*, report)` is what the report core calls for every new report (registered in
apps.py, never imported by it). A report's status and audit trail change only through the report
workflow (geo_ops.reports.workflow): these services decide and write crews, jobs and flags.
"""

from geo_ops.reports.workflow import WorkflowError

from .crews import CrewLoadSummary, crews_load
from .dispatch import BacklogSummary, backlog_ids, dispatch_backlog, report_dispatch
from .jobs import TransitionResult, allowed_transitions, assignment_transition
from .supervision import (
    escalate_overdue,
    flag_resolve,
    job_reassign,
    report_cancel,
    report_close,
    report_merge,
    report_reopen,
)

__all__ = [
    "BacklogSummary",
    "CrewLoadSummary",
    "TransitionResult",
    "WorkflowError",
    "allowed_transitions",
    "assignment_transition",
    "backlog_ids",
    "crews_load",
    "dispatch_backlog",
    "escalate_overdue",
    "flag_resolve",
    "job_reassign",
    "report_cancel",
    "report_close",
    "report_dispatch",
    "report_merge",
    "report_reopen",
]
