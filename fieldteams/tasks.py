"""Celery tasks of fieldteams (periodic: settings.CELERY_BEAT_SCHEDULE). Thin: the work is in
services, so commands, tasks and tests run the same code."""

from celery import shared_task

from . import services


@shared_task(name="fieldteams.tasks.escalate_overdue")
def escalate_overdue() -> int:
    """Flag and raise every newly overdue report."""
    return services.escalate_overdue(actor_label="celery:escalate_overdue")


@shared_task(name="fieldteams.tasks.dispatch_backlog")
def dispatch_backlog(limit: int | None = None) -> dict:
    """Dispatch the reports still waiting for a crew."""
    summary = services.dispatch_backlog(limit=limit, actor_label="celery:dispatch_backlog")
    return {
        "considered": summary.considered,
        "assigned": summary.assigned,
        "unassigned": summary.unassigned,
    }


@shared_task(name="fieldteams.tasks.preventive_work", ignore_result=True)
def preventive_work() -> int:
    """Create and dispatch the preventive jobs that are due."""
    from .preventive import preventive_work_due

    return preventive_work_due()
