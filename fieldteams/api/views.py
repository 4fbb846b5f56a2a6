"""Views of the crew and supervisor API: authenticate, scope through selectors, call services.

A crew member reaches their own crew's jobs only: any other job id answers 404, exactly like an
id that does not exist, so ids cannot be probed. Users without the role get 403.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from geo_ops.reports.models import Report, Status
from geo_ops.reports.selectors import point_from_coordinates

from .. import selectors, services
from ..models import Crew
from ..services import WorkflowError
from .serializers import (
    MergeSerializer,
    ReasonSerializer,
    ReassignSerializer,
    TransitionSerializer,
    job_feature,
    queue_feature,
)

# WorkflowError codes that mean "the job's state does not allow it" (409) rather than bad input.
CONFLICT_CODES = {
    "illegal_transition",
    "not_open",
    "not_resolved",
    "not_finished",
    "same_crew",
    "inactive_crew",
    # The report workflow's: a move its table refuses for this role, and a report changed by
    # someone else meanwhile (try again after reloading).
    "transition_not_allowed",
    "conflict",
}


def workflow_error_response(exc: WorkflowError) -> Response:
    if exc.code == "not_allowed":
        code = status.HTTP_403_FORBIDDEN
    elif exc.code in CONFLICT_CODES:
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_400_BAD_REQUEST
    return Response({exc.field: [exc.message], "code": exc.code}, status=code)


class CrewMemberPermission(permissions.BasePermission):
    message = "Only crew members can use the crew API."

    def has_permission(self, request, view) -> bool:
        view.member = selectors.crew_member_of(user=request.user)
        return view.member is not None


class SupervisorPermission(permissions.BasePermission):
    message = "Only supervisors can use the supervisor API."

    def has_permission(self, request, view) -> bool:
        view.supervisor = selectors.supervisor_of(user=request.user)
        return view.supervisor is not None


def _actor_label(user) -> str:
    return f"user:{user.username}"


class CrewJobsView(APIView):
    """GET: the signed-in member's crew's open jobs as GeoJSON, in suggested order."""

    permission_classes = [permissions.IsAuthenticated, CrewMemberPermission]

    @extend_schema(operation_id="crew_jobs_list", responses={200: dict})
    def get(self, request):
        day = selectors.crew_jobs(crew=self.member.crew)
        crew = self.member.crew
        return Response(
            {
                "type": "FeatureCollection",
                "crew": {
                    "code": crew.code,
                    "name_en": crew.name_en,
                    "name_ar": crew.name_ar,
                    "depot": {"type": "Point", "coordinates": [crew.depot.x, crew.depot.y]},
                },
                "order": day.route_source,
                "route": day.route,
                "features": [job_feature(job, order=n) for n, job in enumerate(day.jobs, start=1)],
            }
        )


class CrewJobView(APIView):
    """GET: one of the crew's jobs (404 for any other crew's)."""

    permission_classes = [permissions.IsAuthenticated, CrewMemberPermission]

    @extend_schema(operation_id="crew_job_retrieve", responses={200: dict})
    def get(self, request, pk: int):
        job = selectors.crew_job(crew=self.member.crew, assignment_id=pk)
        if job is None:
            raise Http404
        return Response(job_feature(job))


class CrewJobTransitionView(APIView):
    """POST {"to": state, "note", "reason", "lat", "lon", "photo", "client_id"}: move the job.

    409 when the job's state does not allow it, 400 for missing note/reason or bad input, 404
    for another crew's job. A repeated client_id is answered 200 without changing anything.
    """

    permission_classes = [permissions.IsAuthenticated, CrewMemberPermission]

    @extend_schema(request=TransitionSerializer, responses={200: dict})
    def post(self, request, pk: int):
        job = selectors.crew_job(crew=self.member.crew, assignment_id=pk)
        if job is None:
            raise Http404
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        location = None
        if "lat" in data:
            location = point_from_coordinates(lon=data["lon"], lat=data["lat"])
        try:
            result = services.assignment_transition(
                assignment=job,
                to_state=data["to"],
                actor=request.user,
                actor_label=_actor_label(request.user),
                note=data["note"],
                reason=data["reason"],
                location=location,
                photo=data.get("photo"),
                client_id=data.get("client_id") or None,
            )
        except WorkflowError as exc:
            return workflow_error_response(exc)
        job = selectors.crew_job(crew=self.member.crew, assignment_id=pk)
        body = job_feature(job)
        body["replayed"] = result.replayed
        body["flagged"] = result.flagged.reason if result.flagged else None
        return Response(body)


class SupervisorQueueView(APIView):
    """GET: the supervisor's queue (open and resolved reports of their department/branches),
    flagged first; ?flagged=true|false, ?branch=code, ?status=s1,s2."""

    permission_classes = [permissions.IsAuthenticated, SupervisorPermission]

    @extend_schema(
        parameters=[
            OpenApiParameter("flagged", bool),
            OpenApiParameter("branch", str),
            OpenApiParameter("status", str),
            OpenApiParameter("limit", int),
        ],
        responses={200: dict},
    )
    def get(self, request):
        flagged = {"true": True, "false": False}.get(request.query_params.get("flagged", ""))
        statuses = [s for s in request.query_params.get("status", "").split(",") if s] or None
        try:
            limit = min(max(int(request.query_params.get("limit", 500)), 1), 5000)
        except ValueError:
            return Response({"limit": ["Must be a whole number."]}, status=400)
        queue = selectors.supervisor_queue(
            supervisor=self.supervisor,
            flagged=flagged,
            statuses=statuses,
            branch=request.query_params.get("branch", ""),
        )
        reports = list(queue[:limit])
        return Response(
            {
                "type": "FeatureCollection",
                "count": len(reports),
                "features": [queue_feature(r) for r in reports],
            }
        )


class SupervisorActionView(APIView):
    """POST /supervisor/reports/{id}/{action}/: reassign, cancel, merge, close, reopen."""

    permission_classes = [permissions.IsAuthenticated, SupervisorPermission]
    actions = {"reassign", "cancel", "merge", "close", "reopen"}

    def _report(self, pk: int) -> Report:
        report = selectors.supervisor_reports(supervisor=self.supervisor).filter(pk=pk).first()
        if report is None:
            raise Http404
        return report

    @extend_schema(request=ReassignSerializer, responses={200: dict})
    def post(self, request, pk: int, action: str):
        if action not in self.actions:
            raise Http404
        report = self._report(pk)
        user, label = request.user, _actor_label(request.user)
        try:
            if action == "reassign":
                body = ReassignSerializer(data=request.data)
                body.is_valid(raise_exception=True)
                crew = Crew.objects.filter(code=body.validated_data["crew"]).first()
                if crew is None:
                    return Response({"crew": ["Unknown crew."]}, status=400)
                services.job_reassign(
                    report=report,
                    crew=crew,
                    actor=user,
                    actor_label=label,
                    reason=body.validated_data["reason"],
                )
            elif action == "merge":
                body = MergeSerializer(data=request.data)
                body.is_valid(raise_exception=True)
                into = (
                    selectors.supervisor_reports(supervisor=self.supervisor)
                    .filter(tracking_number=body.validated_data["into"].strip().upper())
                    .first()
                )
                if into is None:
                    return Response({"into": ["No report with this tracking number."]}, 400)
                services.report_merge(report=report, into=into, actor=user, actor_label=label)
            else:
                body = ReasonSerializer(data=request.data)
                body.is_valid(raise_exception=True)
                data = body.validated_data
                if action == "cancel":
                    services.report_cancel(
                        report=report, actor=user, actor_label=label, reason=data["reason"]
                    )
                elif action == "close":
                    services.report_close(
                        report=report, actor=user, actor_label=label, note=data["note"]
                    )
                else:
                    services.report_reopen(
                        report=report, actor=user, actor_label=label, reason=data["reason"]
                    )
        except WorkflowError as exc:
            return workflow_error_response(exc)
        report = selectors.supervisor_queue(
            supervisor=self.supervisor,
            statuses=Status.values,
        ).get(pk=report.pk)
        return Response(queue_feature(report))


class SupervisorFlagResolveView(APIView):
    """POST: mark an open flag on a report in scope as looked at."""

    permission_classes = [permissions.IsAuthenticated, SupervisorPermission]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request, pk: int):
        flag = selectors.supervisor_flags(supervisor=self.supervisor).filter(pk=pk).first()
        if flag is None:
            raise Http404
        services.flag_resolve(flag=flag, actor=request.user)
        return Response({"id": flag.pk, "resolved_at": flag.resolved_at.isoformat()})
