"""What the fieldteams services share: public notes, locking, cancelling a job."""

from geo_ops.reports.models import Report

from ..models import ACTIVE_STATES, Assignment, AssignmentState

DISPATCH_ACTOR = "dispatch"
# Public sentences (the track page and Open311 show them; they never name a crew or a person).
PUBLIC_NOTES = {
    AssignmentState.ASSIGNED: "Assigned to a field crew.",
    AssignmentState.ACCEPTED: "A field crew accepted the job.",
    AssignmentState.EN_ROUTE: "A field crew is on the way.",
    AssignmentState.IN_PROGRESS: "Work has started.",
    AssignmentState.COMPLETED: "The field crew completed the work.",
}


def active_assignment(report: Report) -> Assignment | None:
    """The report's job that is still being worked, locked."""
    return (
        Assignment.objects.select_for_update()
        .filter(report=report, state__in=ACTIVE_STATES)
        .select_related("crew")
        .first()
    )


def locked_report(report: Report) -> Report:
    """The report read again and locked for the rest of the transaction."""
    return (
        Report.objects.select_for_update(of=("self",))
        .select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .get(pk=report.pk)
    )


def assignment_cancel(assignment: Assignment, *, reason: str, now) -> None:
    """End a job without completing it (a supervisor's reassign, cancel or merge)."""
    assignment.state = AssignmentState.CANCELLED
    assignment.state_reason = reason
    assignment.state_changed_at = now
    assignment.save(update_fields=["state", "state_reason", "state_changed_at"])
