"""Celery tasks of route planning (registered through settings.CELERY_IMPORTS). Thin: the work
is in fieldteams.routing.services, so the API, the command, tasks and tests run the same code."""

from datetime import datetime

from celery import shared_task


@shared_task(name="fieldteams.routing.tasks.route_plan_compute")
def route_plan_compute(plan_id: int, now: str | None = None) -> dict:
    """Compute a stored plan request (POST /api/v1/routes/plan/ with "background": true)."""
    from .models import RoutePlan
    from .services import route_plan_compute as compute

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
