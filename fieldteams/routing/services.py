"""Writes of route planning: create a plan (now or in a Celery task), compute and store it,
re-plan a crew's day keeping the jobs it has started, and apply a shared plan (hand the jobs it
moved to the crews that will do them).

`route_plan_create(...)` stores the request as a RoutePlan and computes it unless asked to run
in the background (the task `fieldteams.routing.tasks.route_plan_compute`, queued by its name:
the tasks call this module, never the other way round); `route_plan_compute(plan=)`
reads the inputs (fieldteams.routing.inputs), runs the planner and stores routes, stops and the
stops left out in one transaction, then re-checks the stored plan (fieldteams.routing.validate).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime

from celery import current_app
from django.conf import settings
from django.contrib.gis.geos import LineString, Point
from django.db import transaction
from django.utils import timezone

from ..models import (
    Crew,
    CrewRoute,
    Department,
    PlanStatus,
    RouteDrop,
    RoutePlan,
    RouteStop,
    StopKind,
)
from . import inputs
from .plan_types import DroppedStop, PlannedRoute, PlanOptions, PlanResult
from .travel import travel_times
from .validate import plan_violations

logger = logging.getLogger(__name__)

# The Celery task that computes a queued plan (defined in fieldteams.routing.tasks).
COMPUTE_TASK = "fieldteams.routing.tasks.route_plan_compute"


class PlanRequestError(ValueError):
    """A plan request that cannot be planned; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def plan_options(raw: dict | None) -> PlanOptions:
    """Options from a request (API, command), with the settings' defaults and limits."""
    raw = dict(raw or {})

    def number(name: str, default: float) -> float:
        value = raw.get(name)
        try:
            return float(default if value is None else value)
        except (TypeError, ValueError) as exc:
            raise PlanRequestError(name, "must be a number") from exc

    limit = number("time_limit_s", settings.GEO_OPS_ROUTE_TIME_LIMIT_S)
    if not 0 < limit <= settings.GEO_OPS_ROUTE_MAX_TIME_LIMIT_S:
        raise PlanRequestError(
            "time_limit_s",
            f"must be more than 0 and at most {settings.GEO_OPS_ROUTE_MAX_TIME_LIMIT_S:g} s",
        )
    sla = raw.get("sla") or "window"
    if sla not in ("window", "penalty"):
        raise PlanRequestError("sla", 'must be "window" or "penalty"')
    radius = number("unassigned_radius_m", settings.GEO_OPS_ROUTE_UNASSIGNED_RADIUS_M)
    if not 0 < radius <= 50_000:
        raise PlanRequestError("unassigned_radius_m", "must be more than 0 and at most 50,000 m")
    return PlanOptions(
        time_limit_s=limit,
        include_unassigned=bool(raw.get("include_unassigned", False)),
        unassigned_radius_m=radius,
        include_hotspots=bool(raw.get("include_hotspots", False)),
        sla=sla,
        seed=int(raw.get("seed") or 0),
    )


@transaction.atomic
def route_plan_create(
    *,
    plan_date: date,
    crew: Crew | None = None,
    department: Department | None = None,
    branch=None,
    options: dict | None = None,
    actor=None,
    actor_label: str = "",
    background: bool = False,
    replan_of: RoutePlan | None = None,
    now: datetime | None = None,
    positions: dict[int, tuple[float, float]] | None = None,
) -> RoutePlan:
    """Store a plan request for one crew, or a department's crews in a branch, and compute it
    (in a Celery task when `background`)."""
    if (crew is None) == (department is None):
        raise PlanRequestError("crew", "give either a crew or a department (and a branch)")
    if department is not None and branch is None:
        raise PlanRequestError("branch", "a department plan needs a branch municipality")
    parsed = plan_options(options)
    stored = asdict(parsed)
    if positions:
        stored["positions"] = {str(k): list(v) for k, v in positions.items()}
    plan = RoutePlan.objects.create(
        plan_date=plan_date,
        crew=crew,
        department=department if crew is None else crew.department,
        branch=branch,
        options=stored,
        status=PlanStatus.QUEUED,
        replan_of=replan_of,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        created_label=actor_label,
    )
    if background:
        transaction.on_commit(lambda: _compute_later(plan_id=plan.pk, now=now))
        return plan
    route_plan_compute(plan=plan, now=now)
    return plan


def _compute_later(*, plan_id: int, now: datetime | None) -> None:
    """Queue the plan for a worker. By the task's name, not by importing it: tasks.py imports
    this module, and the signature resolves to the registered task where it is loaded (a worker,
    or CELERY_TASK_ALWAYS_EAGER with the tasks imported), else it is sent to the broker."""
    args = [plan_id, now.isoformat() if now else None]
    current_app.signature(COMPUTE_TASK, args=args).delay()


def route_plan_compute(*, plan: RoutePlan, now: datetime | None = None) -> RoutePlan:
    """Compute and store `plan` (any earlier result replaced); a failure is stored, not raised."""
    now = now or timezone.now()
    RoutePlan.objects.filter(pk=plan.pk).update(status=PlanStatus.RUNNING)
    try:
        with transaction.atomic():
            result = _plan(plan=plan, now=now)
            _store(plan=plan, result=result)
    except Exception as exc:  # stored for the requester; the traceback goes to the log
        logger.exception("route plan %s failed", plan.pk)
        RoutePlan.objects.filter(pk=plan.pk).update(
            status=PlanStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        plan.refresh_from_db()
        return plan
    plan.refresh_from_db()
    return plan


def _plan(*, plan: RoutePlan, now: datetime) -> PlanResult:
    options = plan_options(plan.options)
    crews = inputs.crews_for_plan(crew=plan.crew, department=plan.department, branch=plan.branch)
    crew_inputs = inputs.crew_inputs(crews=crews, plan_date=plan.plan_date)
    skills = frozenset().union(*(c.skill_ids for c in crew_inputs)) if crew_inputs else frozenset()
    learned = inputs.learned_service_minutes(category_ids=skills, now=now)
    jobs = inputs.crew_jobs_for_plan(crews=crews)
    stops = inputs.stops_for_jobs(jobs=jobs, learned=learned)
    by_key = {s.key: s for s in stops}
    started: dict[int, list] = {}
    for job in jobs:
        if job.state in inputs.STARTED_STATES:
            started.setdefault(job.crew_id, []).append((job, by_key[f"a{job.pk}"]))
    coverage = (
        {plan.branch_id}
        if plan.branch_id
        else frozenset().union(*(c.branch_ids for c in crew_inputs))
    )
    if options.include_unassigned:
        anchors = [c.depot for c in crew_inputs] + [s.point for s in stops]
        nearby = inputs.unassigned_nearby(
            anchors=anchors, category_ids=skills, radius_m=options.unassigned_radius_m
        )
        nearby = [r for r in nearby if r.branch_id in coverage]
        stops += inputs.stops_for_unassigned(reports=nearby, learned=learned)
    if options.include_hotspots:
        clusters = inputs.hotspot_clusters(category_ids=skills, branch_ids=coverage)
        stops += [inputs.hotspot_stop(c) for c in clusters]
    positions = {
        int(k): (float(v[0]), float(v[1])) for k, v in plan.options.get("positions", {}).items()
    }
    # Imported here: the planner's model and scheduling load with the first plan, not with
    # every process that imports the URLconf (web workers, manage.py commands).
    from .planner import Planner

    planner = Planner(
        plan_date=plan.plan_date,
        crews=crew_inputs,
        stops=stops,
        started=started,
        positions=positions,
        travel=travel_times(),
        options=options,
        now=now,
    )
    return planner.run()


def _point(p) -> Point:
    return Point(float(p[0]), float(p[1]), srid=4326)


def _store(*, plan: RoutePlan, result: PlanResult) -> None:
    plan.routes.all().delete()
    plan.drops.all().delete()
    stop_rows: list[RouteStop] = []
    totals = {"distance_m": 0.0, "driving_s": 0.0, "working_s": 0.0, "jobs": 0}
    for route in result.routes:
        row = _route_row(plan=plan, route=route)
        stop_rows += _stop_rows(row=row, route=route)
        totals["jobs"] += sum(1 for s in route.stops if s.stop is not None)
        totals["distance_m"] += route.distance_m
        totals["driving_s"] += route.driving_s
        totals["working_s"] += route.working_s
    RouteStop.objects.bulk_create(stop_rows)
    RouteDrop.objects.bulk_create(_drop_row(plan=plan, dropped=d) for d in result.dropped)
    plan.status = PlanStatus.DONE
    plan.finished_at = timezone.now()
    plan.runtime_ms = int(result.runtime_s * 1000)
    plan.solver = result.solver
    plan.travel_times = result.travel_times
    plan.jobs_planned = totals["jobs"]
    plan.jobs_dropped = len(result.dropped)
    plan.distance_m = totals["distance_m"]
    plan.driving_s = totals["driving_s"]
    plan.working_s = totals["working_s"]
    plan.notes = result.notes
    plan.error = ""
    plan.check_errors = list(result.check_errors)
    plan.save()
    # The stored plan checked again from its rows, independently of the planner's arithmetic.
    stored_errors = plan_violations(plan=plan)
    if stored_errors:
        plan.check_errors = plan.check_errors + stored_errors
        plan.save(update_fields=["check_errors"])


def _route_row(*, plan: RoutePlan, route: PlannedRoute) -> CrewRoute:
    crew_input = route.crew
    shift = crew_input.shift
    return CrewRoute.objects.create(
        plan=plan,
        crew=crew_input.crew,
        vehicle_type=crew_input.vehicle_type,
        load_capacity=crew_input.capacity,
        shift_start=shift.start,
        shift_end=shift.end,
        start_at=route.start,
        end_at=route.end,
        distance_m=route.distance_m,
        driving_s=route.driving_s,
        service_s=route.service_s,
        waiting_s=route.waiting_s,
        break_s=route.break_s,
        working_s=route.working_s,
        trips=route.trips,
        geometry=LineString(route.line, srid=4326) if len(route.line) >= 2 else None,
    )


def _stop_rows(*, row: CrewRoute, route: PlannedRoute) -> list[RouteStop]:
    rows = []
    for sequence, s in enumerate(route.stops):
        item = s.stop
        rows.append(
            RouteStop(
                route=row,
                sequence=sequence,
                kind=s.kind,
                assignment_id=item.assignment_id if item else None,
                report_id=item.report_id if item else None,
                cluster_id=item.cluster_id if item else None,
                disposal_site=s.disposal_site,
                location=_point(s.point),
                arrival_at=s.arrival,
                start_at=s.start,
                departure_at=s.departure,
                window_start=s.window_start,
                window_end=s.window_end,
                due_at=s.due_at,
                late=s.late,
                priority=item.priority if item else None,
                travel_s=s.travel_s,
                distance_m=s.distance_m,
                service_s=s.service_s,
                load=s.load,
                load_after=s.load_after,
                trip=s.trip,
                kept=s.kept,
            )
        )
    return rows


def _drop_row(*, plan: RoutePlan, dropped: DroppedStop) -> RouteDrop:
    stop = dropped.stop
    return RouteDrop(
        plan=plan,
        kind=stop.kind,
        assignment_id=stop.assignment_id,
        report_id=stop.report_id,
        cluster_id=stop.cluster_id,
        crew_id=stop.crew_id,
        priority=stop.priority,
        reason=dropped.reason,
        detail=dropped.detail,
    )


def route_replan(
    *,
    plan: RoutePlan,
    crew: Crew | None = None,
    actor=None,
    actor_label: str = "",
    now: datetime | None = None,
    position: tuple[float, float] | None = None,
) -> RoutePlan:
    """Plan again from now: same day and options, one crew (or the plan's whole scope when no
    crew is given). Jobs already started stay first; the rest is planned from where they end,
    the urgent jobs that arrived since included."""
    target = crew or plan.crew
    positions = {target.pk: position} if target is not None and position else None
    return route_plan_create(
        plan_date=plan.plan_date,
        crew=target,
        department=None if target is not None else plan.department,
        branch=plan.branch if target is None else None,
        options=plan.options,
        actor=actor,
        actor_label=actor_label,
        replan_of=plan,
        now=now,
        positions=positions,
    )


@transaction.atomic
def route_plan_apply(*, plan: RoutePlan, actor, actor_label: str) -> int:
    """Give every job of a shared plan to the crew whose route holds it: jobs moved between
    crews are reassigned, nearby unassigned reports on a route are assigned. Returns how many
    jobs changed hands."""
    from ..services import job_reassign

    changed = 0
    stops = (
        RouteStop.objects.filter(
            route__plan=plan, kind__in=[StopKind.JOB, StopKind.UNASSIGNED], kept=False
        )
        .select_related("route__crew", "report", "assignment")
        .order_by("route_id", "sequence")
    )
    for stop in stops:
        crew = stop.route.crew
        current = stop.assignment
        if stop.report is None or (current is not None and current.crew_id == crew.pk):
            continue
        if current is not None and current.state not in ("assigned", "accepted"):
            continue  # the other crew has started it meanwhile
        assignment = job_reassign(
            report=stop.report,
            crew=crew,
            actor=actor,
            actor_label=actor_label,
            reason=f"route plan {plan.pk}",
        )
        RouteStop.objects.filter(pk=stop.pk).update(assignment=assignment, kind=StopKind.JOB)
        changed += 1
    return changed
