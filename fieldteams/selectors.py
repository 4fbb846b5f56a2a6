"""Reads of fieldteams: who a user is (crew member, supervisor), a crew's jobs in suggested
order, a supervisor's queue. Every read of jobs is scoped here, so that views cannot forget it:
a crew member reaches only their crew's jobs, a supervisor only the reports of their scope."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils.module_loading import import_string

from geo_ops.reports.models import OPEN_STATUSES, Report, ReporterContact, Status

from .models import (
    ACTIVE_STATES,
    Assignment,
    AssignmentState,
    Crew,
    CrewMember,
    Supervisor,
    SupervisorFlag,
)

logger = logging.getLogger(__name__)


def crew_member_of(*, user) -> CrewMember | None:
    """The user's crew membership (with the crew), or None."""
    if not user or not user.is_authenticated:
        return None
    return CrewMember.objects.select_related("crew").filter(user=user).first()


def supervisor_of(*, user) -> Supervisor | None:
    """The user's supervisor role (with department and branches), or None."""
    if not user or not user.is_authenticated:
        return None
    return (
        Supervisor.objects.select_related("department")
        .prefetch_related("branches")
        .filter(user=user)
        .first()
    )


def callback_phone_expression() -> Case:
    """The reporter's phone where the report's category lets crews call back, else ''.

    The only contact datum a crew ever gets: name and e-mail are never selected. The specific
    category decides (the subcategory when there is one).
    """
    phone = ReporterContact.objects.filter(report=OuterRef("report_id")).values("phone")[:1]
    allowed = Q(report__subcategory__callback_phone_for_crews=True) | Q(
        report__subcategory__isnull=True, report__category__callback_phone_for_crews=True
    )
    return Case(When(allowed, then=Subquery(phone)), default=Value(""), output_field=CharField())


def _jobs_queryset() -> QuerySet[Assignment]:
    return (
        Assignment.objects.select_related("crew", "report__category", "report__subcategory")
        .select_related("report__branch")
        .defer("report__branch__geom")
        .annotate(callback_phone=callback_phone_expression())
    )


# Jobs already under way first, then the most urgent: the default suggested order until a route
# plan (fieldteams.routing) orders them.
_STATE_RANK = {
    AssignmentState.IN_PROGRESS: 0,
    AssignmentState.EN_ROUTE: 1,
    AssignmentState.PAUSED: 2,
    AssignmentState.ACCEPTED: 3,
    AssignmentState.ASSIGNED: 4,
}


@dataclass
class CrewDay:
    """A crew's open jobs in suggested order, and the route line when a plan exists."""

    crew: Crew
    jobs: list[Assignment]
    route: dict | None = None  # a GeoJSON LineString
    route_source: str = "priority"


def crew_jobs(*, crew: Crew) -> CrewDay:
    """The crew's open jobs in suggested order.

    Without a route plan: jobs under way first, then by priority (highest first), SLA due time
    (soonest first), receipt. settings.GEO_OPS_CREW_ROUTE_PROVIDER may name a callable
    `(crew=..., jobs=...) -> (ordered assignment ids, GeoJSON LineString) | None`: the hook for
    route plans (issue 6), whose order then wins for the jobs it contains.
    """
    jobs = list(_jobs_queryset().filter(crew=crew, state__in=ACTIVE_STATES))
    far_future = "9999"
    jobs.sort(
        key=lambda a: (
            _STATE_RANK.get(a.state, 9),
            -a.report.priority,
            a.report.due_at.isoformat() if a.report.due_at else far_future,
            a.report.created_at,
            a.pk,
        )
    )
    day = CrewDay(crew=crew, jobs=jobs)
    provider = getattr(settings, "GEO_OPS_CREW_ROUTE_PROVIDER", None)
    if provider and jobs:
        try:
            planned = import_string(provider)(crew=crew, jobs=jobs)
        except Exception:
            # The crew must see its jobs even when the route planner fails: priority order.
            logger.exception("route provider %s failed for crew %s", provider, crew.code)
            planned = None
        if planned:
            order, line = planned
            rank = {assignment_id: n for n, assignment_id in enumerate(order)}
            jobs.sort(key=lambda a: rank.get(a.pk, len(rank)))
            day.route, day.route_source = line, "route_plan"
    return day


def crew_job(*, crew: Crew, assignment_id: int) -> Assignment | None:
    """One of the crew's jobs (open or not); None for any other crew's job."""
    return _jobs_queryset().filter(crew=crew, pk=assignment_id).first()


# --- supervisors -----------------------------------------------------------------------------


def supervisor_scope(supervisor: Supervisor) -> Q:
    """The reports a supervisor oversees, as a filter on Report.

    Department: its categories, plus any report one of its crews is working on (a branch
    services crew does several departments' work). Branches: the reports in them. Both: both.
    """
    scope = Q()
    if supervisor.department_id:
        crew_busy = Assignment.objects.filter(
            report=OuterRef("pk"), state__in=ACTIVE_STATES, crew__department=supervisor.department
        )
        scope &= Q(category__departments=supervisor.department) | Q(Exists(crew_busy))
    branch_ids = [b.pk for b in supervisor.branches.all()]
    if branch_ids:
        scope &= Q(branch_id__in=branch_ids)
    if not supervisor.department_id and not branch_ids:
        return Q(pk__in=[])  # a supervisor over nothing sees nothing
    return scope


def supervisor_reports(*, supervisor: Supervisor) -> QuerySet[Report]:
    """Every report in the supervisor's scope (any status), for look-ups by id."""
    return Report.objects.filter(supervisor_scope(supervisor)).distinct()


def supervisor_queue(
    *, supervisor: Supervisor, flagged: bool | None = None, statuses=None, branch: str = ""
) -> QuerySet[Report]:
    """The supervisor's queue: open and resolved (awaiting closing) reports in scope, flagged
    ones first, then by priority and due time; with the active job and the open flags."""
    statuses = statuses or (*OPEN_STATUSES, Status.RESOLVED)
    open_flags = SupervisorFlag.objects.filter(report=OuterRef("pk"), resolved_at=None)
    queryset = (
        supervisor_reports(supervisor=supervisor)
        .filter(status__in=statuses)
        .select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .annotate(flagged=Exists(open_flags))
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.filter(state__in=ACTIVE_STATES).select_related("crew"),
                to_attr="active_assignments",
            ),
            Prefetch(
                "flags",
                queryset=SupervisorFlag.objects.filter(resolved_at=None),
                to_attr="open_flags",
            ),
        )
        .order_by("-flagged", "-priority", "due_at", "created_at", "id")
    )
    if flagged is not None:
        queryset = queryset.filter(flagged=flagged)
    if branch:
        queryset = queryset.filter(branch__code=branch)
    return queryset


def supervisor_flags(*, supervisor: Supervisor) -> QuerySet[SupervisorFlag]:
    """Open flags on reports in the supervisor's scope."""
    return SupervisorFlag.objects.filter(
        resolved_at=None, report__in=supervisor_reports(supervisor=supervisor).values("pk")
    ).select_related("report")
