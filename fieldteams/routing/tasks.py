"""Celery tasks of route planning (registered through settings.CELERY_IMPORTS). Thin: the work
is in fieldteams.routing.services, so the API, the command, tasks and tests run the same code;
services queue a task by its name (services.COMPUTE_TASK) and never import this module."""

from datetime import datetime

from celery import shared_task

from ..models import RoutePlan
from .services import COMPUTE_TASK
from .services import route_plan_compute as compute


@shared_task(name=COMPUTE_TASK)
def route_plan_compute(plan_id: int, now: str | None = None) -> dict:
    """Compute a stored plan request (POST /api/v1/routes/plan/ with "background": true)."""
    plan = RoutePlan.objects.filter(pk=plan_id).first()
    if plan is None:
        return {"plan": plan_id, "status": "missing"}
    plan = compute(plan=plan, now=datetime.fromisoformat(now) if now else None)
    return {
        "plan": plan.pk,
        "status": plan.status,
        "jobs_planned": plan.jobs_planned,
        "jobs_dropped": plan.jobs_dropped,
    }
