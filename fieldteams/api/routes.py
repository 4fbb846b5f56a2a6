"""Route plan API under /api/v1/routes/: plan, read, re-plan, apply; the crew map's status.

Views authenticate, scope through fieldteams.routing.selectors and call
fieldteams.routing.services; shapes are built here. A plan the user may not see answers 404
(as one that does not exist); planning outside the user's scope answers 403.
"""

from __future__ import annotations

import json

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from layers.models import BranchMunicipality

from ..models import Crew, CrewRoute, Department, PlanStatus, RouteDrop, RoutePlan, RouteStop
from ..routing import selectors
from ..routing.services import (
    PlanRequestError,
    route_plan_apply,
    route_plan_create,
    route_replan,
)
from ..services import WorkflowError


class RouteAccessPermission(permissions.BasePermission):
    message = "Only crew members, supervisors and planners can use route plans."

    def has_permission(self, request, view) -> bool:
        view.access = selectors.route_access(user=request.user)
        return view.access.allowed


def _label(user) -> str:
    return f"user:{user.username}"


# --- shapes ------------------------------------------------------------------------------------


def _time(value):
    """Local time (settings.TIME_ZONE) with its offset: what a crew and a planner read."""
    return timezone.localtime(value).isoformat() if value else None


def _names(obj) -> dict | None:
    if obj is None:
        return None
    return {"code": obj.code, "name_en": obj.name_en, "name_ar": obj.name_ar}


def stop_data(stop: RouteStop) -> dict:
    report = stop.report
    specific = (report.subcategory or report.category) if report else None
    return {
        "sequence": stop.sequence,
        "kind": stop.kind,
        "assignment": stop.assignment_id,
        "report": (
            {
                "id": report.pk,
                "tracking_number": report.tracking_number,
                "category": _names(specific),
            }
            if report
            else None
        ),
        "hotspot": stop.cluster_id,
        "disposal_site": _names(stop.disposal_site),
        "location": [stop.location.x, stop.location.y],
        "arrival_at": _time(stop.arrival_at),
        "start_at": _time(stop.start_at),
        "departure_at": _time(stop.departure_at),
        "window_end": _time(stop.window_end),
        "due_at": _time(stop.due_at),
        "late": stop.late,
        "priority": stop.priority,
        "service_s": stop.service_s,
        "travel_s": stop.travel_s,
        "distance_m": stop.distance_m,
        "load": stop.load,
        "load_after": stop.load_after,
        "trip": stop.trip,
        "kept": stop.kept,
    }


def route_data(route: CrewRoute) -> dict:
    return {
        "id": route.pk,
        "crew": _names(route.crew),
        "vehicle_type": route.vehicle_type,
        "load_capacity": route.load_capacity,
        "shift": {"start": _time(route.shift_start), "end": _time(route.shift_end)},
        "start_at": _time(route.start_at),
        "end_at": _time(route.end_at),
        "totals": {
            "distance_m": round(route.distance_m),
            "driving_s": round(route.driving_s),
            "service_s": round(route.service_s),
            "waiting_s": round(route.waiting_s),
            "break_s": round(route.break_s),
            "working_s": round(route.working_s),
            "trips": route.trips,
            "jobs": sum(1 for s in route.stops.all() if s.kind in ("job", "unassigned", "hotspot")),
        },
        "geometry": json.loads(route.geometry.geojson) if route.geometry else None,
        "stops": [stop_data(s) for s in sorted(route.stops.all(), key=lambda s: s.sequence)],
    }


def drop_data(drop: RouteDrop) -> dict:
    report = drop.report
    return {
        "kind": drop.kind,
        "assignment": drop.assignment_id,
        "report": (
            {"id": report.pk, "tracking_number": report.tracking_number} if report else None
        ),
        "hotspot": drop.cluster_id,
        "crew": drop.crew.code if drop.crew_id else None,
        "priority": drop.priority,
        "reason": drop.reason,
        "reason_label": str(drop.get_reason_display()),
        "detail": drop.detail,
    }


def plan_summary(plan: RoutePlan) -> dict:
    return {
        "id": plan.pk,
        "url": reverse("route-plan", args=[plan.pk]),
        "status": plan.status,
        "date": plan.plan_date.isoformat(),
        "crew": plan.crew.code if plan.crew_id else None,
        "department": plan.department.code if plan.department_id else None,
        "branch": plan.branch.code if plan.branch_id else None,
        "replan_of": plan.replan_of_id,
        "created_at": _time(plan.created_at),
        "finished_at": _time(plan.finished_at),
        "runtime_ms": plan.runtime_ms,
        "options": {k: v for k, v in plan.options.items() if k != "positions"},
        "solver": plan.solver,
        "travel_times": plan.travel_times,
        "feasible": plan.status == PlanStatus.DONE and not plan.check_errors,
        "error": plan.error,
    }


def plan_data(plan: RoutePlan, access) -> dict:
    routes = list(selectors.visible_routes(access=access, plan=plan))
    drops = list(selectors.visible_drops(access=access, plan=plan))
    routed = [route_data(r) for r in routes]
    return {
        **plan_summary(plan),
        "totals": {
            "jobs_planned": sum(r["totals"]["jobs"] for r in routed),
            "jobs_dropped": len(drops),
            "distance_m": sum(r["totals"]["distance_m"] for r in routed),
            "driving_s": sum(r["totals"]["driving_s"] for r in routed),
            "working_s": sum(r["totals"]["working_s"] for r in routed),
        },
        "check_errors": plan.check_errors,
        "notes": plan.notes,
        "routes": routed,
        "dropped": [drop_data(d) for d in drops],
    }


# --- input -------------------------------------------------------------------------------------


class PlanOptionsSerializer(serializers.Serializer):
    time_limit_s = serializers.FloatField(required=False, min_value=0.1)
    include_unassigned = serializers.BooleanField(required=False, default=False)
    unassigned_radius_m = serializers.FloatField(required=False, min_value=1)
    include_hotspots = serializers.BooleanField(required=False, default=False)
    sla = serializers.ChoiceField(choices=["window", "penalty"], required=False, default="window")
    seed = serializers.IntegerField(required=False, min_value=0)


class PlanRequestSerializer(serializers.Serializer):
    crew = serializers.SlugField(required=False)
    department = serializers.SlugField(required=False)
    branch = serializers.SlugField(required=False)
    date = serializers.DateField()
    options = PlanOptionsSerializer(required=False)
    background = serializers.BooleanField(required=False, default=False)
    apply = serializers.BooleanField(required=False, default=False)

    def validate(self, data):
        if bool(data.get("crew")) == bool(data.get("department")):
            raise serializers.ValidationError({"crew": ["Give either a crew or a department."]})
        if data.get("department") and not data.get("branch"):
            raise serializers.ValidationError(
                {"branch": ["A department plan needs a branch municipality."]}
            )
        if data.get("crew"):
            data["crew"] = Crew.objects.filter(code=data["crew"]).first()
            if data["crew"] is None:
                raise serializers.ValidationError({"crew": ["Unknown crew."]})
        if data.get("department"):
            data["department"] = Department.objects.filter(code=data["department"]).first()
            if data["department"] is None:
                raise serializers.ValidationError({"department": ["Unknown department."]})
        if data.get("branch"):
            data["branch"] = BranchMunicipality.objects.filter(code=data["branch"]).first()
            if data["branch"] is None:
                raise serializers.ValidationError({"branch": ["Unknown branch municipality."]})
        return data


class ReplanSerializer(serializers.Serializer):
    crew = serializers.SlugField(required=False)
    lat = serializers.FloatField(required=False, min_value=-90, max_value=90)
    lon = serializers.FloatField(required=False, min_value=-180, max_value=180)

    def validate(self, data):
        if ("lat" in data) != ("lon" in data):
            raise serializers.ValidationError({"lat": ["Give both lat and lon, or neither."]})
        return data


# --- views -------------------------------------------------------------------------------------


class RoutePlanCreateView(APIView):
    """POST {"crew": code} or {"department": code, "branch": code}, "date", "options",
    "background", "apply": plan (201; 202 when computed in the background)."""

    permission_classes = [permissions.IsAuthenticated, RouteAccessPermission]

    @extend_schema(
        operation_id="route_plan_create",
        request=PlanRequestSerializer,
        responses={201: dict, 202: dict},
    )
    def post(self, request):
        body = PlanRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        crew, department = data.get("crew"), data.get("department")
        if not selectors.may_plan(access=self.access, crew=crew, department=department):
            return Response(
                {"detail": "You may not plan routes for this crew or department."},
                status=status.HTTP_403_FORBIDDEN,
            )
        if data["apply"] and not (self.access.supervisor or self.access.planner):
            return Response(
                {"apply": ["Only supervisors and planners hand jobs over."]}, status=403
            )
        try:
            plan = route_plan_create(
                plan_date=data["date"],
                crew=crew,
                department=department,
                branch=data.get("branch"),
                options=dict(data.get("options") or {}),
                actor=request.user,
                actor_label=_label(request.user),
                background=data["background"],
            )
        except PlanRequestError as exc:
            return Response({exc.field: [exc.message]}, status=400)
        if data["background"]:
            return Response(plan_summary(plan), status=status.HTTP_202_ACCEPTED)
        if data["apply"] and plan.status == PlanStatus.DONE:
            route_plan_apply(plan=plan, actor=request.user, actor_label=_label(request.user))
        return Response(plan_data(plan, self.access), status=status.HTTP_201_CREATED)


class RoutePlanListView(APIView):
    """GET: plans in the user's scope, newest first; ?date=, ?department=, ?branch=, ?crew=,
    ?status=."""

    permission_classes = [permissions.IsAuthenticated, RouteAccessPermission]

    @extend_schema(
        operation_id="route_plans_list",
        parameters=[
            OpenApiParameter("date", str),
            OpenApiParameter("department", str),
            OpenApiParameter("branch", str),
            OpenApiParameter("crew", str),
            OpenApiParameter("status", str),
        ],
        responses={200: dict},
    )
    def get(self, request):
        plans = selectors.visible_plans(access=self.access)
        params = request.query_params
        if params.get("date"):
            try:
                plans = plans.filter(
                    plan_date=serializers.DateField().to_internal_value(params["date"])
                )
            except serializers.ValidationError as exc:
                return Response({"date": exc.detail}, status=400)
        if params.get("department"):
            plans = plans.filter(department__code=params["department"])
        if params.get("branch"):
            plans = plans.filter(branch__code=params["branch"])
        if params.get("crew"):
            plans = plans.filter(routes__crew__code=params["crew"]).distinct()
        if params.get("status"):
            plans = plans.filter(status=params["status"])
        plans = list(plans.order_by("-created_at", "-id")[:100])
        return Response({"count": len(plans), "results": [plan_summary(p) for p in plans]})


class _PlanInScope(APIView):
    permission_classes = [permissions.IsAuthenticated, RouteAccessPermission]

    def _plan(self, pk: int) -> RoutePlan:
        plan = selectors.visible_plans(access=self.access).filter(pk=pk).first()
        if plan is None:
            raise Http404
        return plan


class RoutePlanView(_PlanInScope):
    """GET: one plan, with the routes (ordered stops, ETAs, totals, LineString) and the stops
    left out with their reasons; a crew member sees their own crew's route only."""

    @extend_schema(operation_id="route_plan_retrieve", responses={200: dict})
    def get(self, request, pk: int):
        return Response(plan_data(self._plan(pk), self.access))


class RoutePlanReplanView(_PlanInScope):
    """POST {"crew", "lat", "lon"}: plan again from now keeping started jobs (a crew member
    re-plans their own crew; without "crew" a supervisor re-plans the plan's whole scope)."""

    @extend_schema(
        operation_id="route_plan_replan", request=ReplanSerializer, responses={201: dict}
    )
    def post(self, request, pk: int):
        plan = self._plan(pk)
        body = ReplanSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        crew = plan.crew
        if data.get("crew"):
            crew = Crew.objects.filter(code=data["crew"]).first()
            if crew is None or not plan.routes.filter(crew=crew).exists() and crew != plan.crew:
                return Response({"crew": ["This crew has no route in the plan."]}, status=400)
        elif crew is None and self.access.member and not self.access.supervisor:
            crew = self.access.member.crew
        if not selectors.may_plan(access=self.access, crew=crew, department=plan.department):
            return Response({"detail": "You may not re-plan this crew."}, status=403)
        position = (data["lon"], data["lat"]) if "lat" in data else None
        new = route_replan(
            plan=plan,
            crew=crew,
            actor=request.user,
            actor_label=_label(request.user),
            position=position,
        )
        return Response(plan_data(new, self.access), status=status.HTTP_201_CREATED)


class RoutePlanApplyView(_PlanInScope):
    """POST: hand every job of a shared plan to the crew whose route holds it (supervisors and
    planners)."""

    @extend_schema(operation_id="route_plan_apply", request=None, responses={200: dict})
    def post(self, request, pk: int):
        plan = self._plan(pk)
        if not (self.access.supervisor or self.access.planner):
            return Response({"detail": "Only supervisors and planners hand jobs over."}, 403)
        if plan.status != PlanStatus.DONE:
            return Response({"detail": "The plan is not computed yet."}, status=409)
        try:
            changed = route_plan_apply(
                plan=plan, actor=request.user, actor_label=_label(request.user)
            )
        except WorkflowError as exc:
            return Response({exc.field: [exc.message], "code": exc.code}, status=409)
        return Response({"id": plan.pk, "reassigned": changed})


class CrewRouteTodayView(APIView):
    """GET: for the crew map, the signed-in member's route of today: plan, ETA per job, the
    urgent jobs that arrived after it, and where to ask for a re-plan."""

    permission_classes = [permissions.IsAuthenticated, RouteAccessPermission]

    @extend_schema(operation_id="route_crew_today", responses={200: dict})
    def get(self, request):
        member = self.access.member
        if member is None:
            return Response({"detail": "Only crew members have a route of the day."}, 403)
        from ..selectors import crew_jobs

        day = crew_jobs(crew=member.crew)
        state = selectors.crew_plan_status(crew=member.crew, jobs=day.jobs)
        route = state.route
        return Response(
            {
                "plan": route.plan_id if route else None,
                "route": route.pk if route else None,
                "planned_at": _time(route.plan.created_at) if route else None,
                "end_at": _time(route.end_at) if route else None,
                "etas": {str(k): v for k, v in state.etas.items()},
                "unplanned_urgent": state.unplanned_urgent,
                "replan_url": reverse("route-plan-replan", args=[route.plan_id]) if route else None,
            }
        )
