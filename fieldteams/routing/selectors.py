"""Reads of route plans: who may see which plans and routes, a crew's plan of the day for the
crew map (the `settings.GEO_OPS_CREW_ROUTE_PROVIDER` hook of fieldteams.selectors.crew_jobs),
and the urgent jobs that arrived after it (the crew map then offers a re-plan).

Scope: a crew member sees only their own crew's route of a plan (and only plans that have one);
a supervisor the plans of their department (and, when they oversee branches, of those
branches); a planner (hotspots.use_planner) without a supervisor role every plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from geo_ops.hotspots.permissions import PLANNER_PERMISSION
from geo_ops.reports.models import Priority

from ..models import (
    Crew,
    CrewMember,
    CrewRoute,
    Department,
    PlanStatus,
    RouteDrop,
    RoutePlan,
    RouteStop,
    StopKind,
    Supervisor,
)
from ..selectors import crew_member_of, supervisor_of


@dataclass
class RouteAccess:
    """What a user may do with route plans."""

    member: CrewMember | None = None
    supervisor: Supervisor | None = None
    planner: bool = False

    @property
    def allowed(self) -> bool:
        return bool(self.member or self.supervisor or self.planner)


def route_access(*, user) -> RouteAccess:
    if not user or not user.is_authenticated:
        return RouteAccess()
    return RouteAccess(
        member=crew_member_of(user=user),
        supervisor=supervisor_of(user=user),
        planner=user.has_perm(PLANNER_PERMISSION),
    )


def _supervisor_plan_scope(supervisor: Supervisor) -> Q:
    scope = Q()
    if supervisor.department_id:
        scope &= Q(department_id=supervisor.department_id)
    branch_ids = [b.pk for b in supervisor.branches.all()]
    if branch_ids:
        scope &= Q(branch_id__in=branch_ids) | Q(crew__branches__in=branch_ids)
    if not supervisor.department_id and not branch_ids:
        return Q(pk__in=[])
    return scope


def visible_plans(*, access: RouteAccess) -> QuerySet[RoutePlan]:
    """The plans the user may read (a crew member: those with a route of their crew)."""
    plans = RoutePlan.objects.select_related("crew", "department", "branch")
    if access.supervisor is not None:
        return plans.filter(_supervisor_plan_scope(access.supervisor)).distinct()
    if access.planner:
        return plans
    if access.member is not None:
        crew_id = access.member.crew_id
        return plans.filter(Q(crew_id=crew_id) | Q(routes__crew_id=crew_id)).distinct()
    return plans.none()


def visible_routes(*, access: RouteAccess, plan: RoutePlan) -> QuerySet[CrewRoute]:
    routes = (
        CrewRoute.objects.filter(plan=plan)
        .select_related("crew")
        .prefetch_related("stops__report__category", "stops__report__subcategory")
        .prefetch_related("stops__disposal_site", "stops__cluster")
        .order_by("crew__code")
    )
    if access.supervisor is None and not access.planner:
        routes = routes.filter(crew_id=access.member.crew_id if access.member else None)
    return routes


def visible_drops(*, access: RouteAccess, plan: RoutePlan) -> QuerySet[RouteDrop]:
    drops = RouteDrop.objects.filter(plan=plan).select_related(
        "report__category", "report__subcategory", "crew"
    )
    if access.supervisor is None and not access.planner:
        drops = drops.filter(crew_id=access.member.crew_id if access.member else None)
    return drops


def may_plan(
    *, access: RouteAccess, crew: Crew | None = None, department: Department | None = None
) -> bool:
    """Planning: a crew member for their own crew; a supervisor for their department's crews
    (or crews covering their branches); a planner for any."""
    if access.planner and access.supervisor is None:
        return True
    if access.supervisor is not None:
        supervisor = access.supervisor
        dept = crew.department_id if crew is not None else getattr(department, "pk", None)
        if supervisor.department_id and supervisor.department_id != dept:
            return False
        branch_ids = {b.pk for b in supervisor.branches.all()}
        if branch_ids and crew is not None:
            return crew.branches.filter(pk__in=branch_ids).exists()
        return True
    if access.member is not None:
        return crew is not None and crew.pk == access.member.crew_id
    return False


def crew_route_today(*, crew: Crew) -> CrewRoute | None:
    """The crew's route in the newest finished plan of today, or of the shift it is on now (a
    night shift planned for yesterday runs past midnight)."""
    now = timezone.now()
    return (
        CrewRoute.objects.filter(crew=crew, plan__status=PlanStatus.DONE)
        .filter(
            Q(plan__plan_date=timezone.localdate()) | Q(shift_start__lte=now, shift_end__gte=now)
        )
        .select_related("plan")
        .order_by("-plan__created_at", "-plan_id")
        .first()
    )


def crew_route_for_map(*, crew: Crew, jobs) -> tuple[list[int], dict] | None:
    """The GEO_OPS_CREW_ROUTE_PROVIDER hook: the crew's jobs in today's route order, and the
    route line; None without a plan for today."""
    route = crew_route_today(crew=crew)
    if route is None:
        return None
    order = list(
        route.stops.filter(assignment__isnull=False)
        .order_by("sequence")
        .values_list("assignment_id", flat=True)
    )
    line = json.loads(route.geometry.geojson) if route.geometry else None
    return order, line


@dataclass
class CrewPlanStatus:
    """For the crew map: today's route, each job's ETA, and the urgent jobs it lacks."""

    route: CrewRoute | None
    etas: dict[int, str]
    unplanned_urgent: list[int]


def crew_plan_status(*, crew: Crew, jobs) -> CrewPlanStatus:
    route = crew_route_today(crew=crew)
    if route is None:
        return CrewPlanStatus(None, {}, [])
    stops = RouteStop.objects.filter(route=route, assignment__isnull=False).values_list(
        "assignment_id", "arrival_at"
    )
    etas = {pk: arrival.isoformat() for pk, arrival in stops}
    urgent = [
        job.pk
        for job in jobs
        if job.pk not in etas
        and job.report.priority >= Priority.URGENT
        and job.created_at > route.plan.created_at
    ]
    return CrewPlanStatus(route, etas, urgent)


def plan_stop_counts(*, plan: RoutePlan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in RouteStop.objects.filter(route__plan=plan).values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return {k: counts.get(k, 0) for k in (StopKind.JOB, StopKind.HOTSPOT, StopKind.DISPOSAL)}
