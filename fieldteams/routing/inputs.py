"""Planning inputs read from the database: the crews of a plan with their shift, vehicle, break
and disposal sites, and the stops to plan (their open jobs, optionally unassigned reports nearby
and hotspot-cleanup stops), each with a service time, a load, an SLA due time and a priority.

Reads only (selectors for the planner). Times are aware datetimes here; the planner turns them
into seconds since the plan day's local midnight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from geo_ops.hotspots.models import HotspotCluster, HotspotRun
from geo_ops.reports.models import Category, Report, Status

from ..calendar import working_calendar
from ..models import (
    ACTIVE_STATES,
    Assignment,
    AssignmentState,
    Crew,
    CrewRouting,
    DisposalSite,
    StopKind,
)

# Jobs a crew has already started: a re-plan keeps them first, in this order.
STARTED_STATES = (AssignmentState.IN_PROGRESS, AssignmentState.PAUSED, AssignmentState.EN_ROUTE)

Point2 = tuple[float, float]  # lon, lat (WGS84)


class Median(Aggregate):
    """percentile_cont(0.5) WITHIN GROUP (ORDER BY expr): PostgreSQL's exact median."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


@dataclass
class Shift:
    """A crew's working period on the plan day (aware datetimes); None when off."""

    start: datetime
    end: datetime


@dataclass
class BreakRule:
    minutes: int
    earliest: datetime
    latest: datetime


@dataclass
class CrewInput:
    crew: Crew
    vehicle_type: str
    capacity: int | None  # load units; None: no load limit
    shift: Shift | None
    off_reason: str
    break_rule: BreakRule | None
    depot: Point2
    disposal_sites: list[DisposalSite]
    skill_ids: frozenset[int]  # category ids it may do (top-level skills expanded)
    branch_ids: frozenset[int]


@dataclass
class StopInput:
    """Something to visit: a crew's job, a nearby unassigned report, or a hotspot cleanup."""

    key: str  # "a<assignment id>", "r<report id>", "h<cluster id>"
    kind: str  # StopKind
    point: Point2
    priority: int
    service_s: float
    load: int
    prize: int
    category_ids: frozenset[int]  # the job's category and subcategory
    label: str  # tracking number, or "hotspot N"
    due_at: datetime | None = None
    assignment_id: int | None = None
    report_id: int | None = None
    cluster_id: int | None = None
    crew_id: int | None = None  # the crew it is assigned to


def day_origin(plan_date: date) -> datetime:
    """Local midnight of the plan day: the zero of the planner's clock."""
    return datetime.combine(plan_date, time(0), tzinfo=ZoneInfo(settings.TIME_ZONE))


def _at(plan_date: date, clock: time, *, next_day: bool = False) -> datetime:
    moment = day_origin(plan_date) + timedelta(hours=clock.hour, minutes=clock.minute)
    return moment + timedelta(days=1) if next_day else moment


def crew_shift(*, crew: Crew, plan_date: date) -> tuple[Shift | None, str]:
    """The crew's shift starting on `plan_date`, or None and why not.

    A crew without any CrewShift row works settings.GEO_OPS_ROUTE_DEFAULT_SHIFT. A shift whose end
    is at or before its start runs past midnight. Holidays of the business calendar are off
    unless the shift works them. Of several shifts on one day, the first is planned.
    """
    shifts = list(crew.shifts.all())
    if not shifts:
        starts, ends = (time.fromisoformat(t) for t in settings.GEO_OPS_ROUTE_DEFAULT_SHIFT)
        return Shift(_at(plan_date, starts), _at(plan_date, ends, next_day=ends <= starts)), ""
    today = sorted((s for s in shifts if s.weekday == plan_date.weekday()), key=lambda s: s.starts)
    if not today:
        return None, f"{crew.code} has no shift on {plan_date:%A}"
    shift = today[0]
    if plan_date in working_calendar().holidays and not shift.works_holidays:
        return None, f"{plan_date} is a public holiday and {crew.code} does not work holidays"
    return (
        Shift(
            _at(plan_date, shift.starts),
            _at(plan_date, shift.ends, next_day=shift.ends <= shift.starts),
        ),
        "",
    )


def skill_category_ids(crew: Crew) -> frozenset[int]:
    """Category ids the crew may do: its skills, and every subcategory of a top-level skill."""
    skills = [c.pk for c in crew.skills.all()]
    children = Category.objects.filter(parent_id__in=skills).values_list("pk", flat=True)
    return frozenset(skills) | frozenset(children)


def crews_for_plan(*, crew: Crew | None = None, department=None, branch=None) -> list[Crew]:
    """The plan's crews: one crew, or the active crews of a department covering a branch."""
    queryset = Crew.objects.prefetch_related("shifts", "skills", "branches")
    if crew is not None:
        return [queryset.get(pk=crew.pk)]
    queryset = queryset.filter(department=department, active=True)
    if branch is not None:
        queryset = queryset.filter(branches=branch)
    return list(queryset.order_by("code"))


def crew_inputs(*, crews: list[Crew], plan_date: date) -> list[CrewInput]:
    """Shift, vehicle, break, depot, disposal sites and skills of each crew."""
    profiles = {
        p.crew_id: p
        for p in CrewRouting.objects.filter(crew__in=crews).prefetch_related("disposal_sites")
    }
    all_sites = list(DisposalSite.objects.filter(active=True))
    vehicle_types = settings.GEO_OPS_ROUTE_VEHICLE_TYPES
    default_break = settings.GEO_OPS_ROUTE_BREAK
    out = []
    for crew in crews:
        profile = profiles.get(crew.pk)
        vehicle = profile.vehicle_type if profile else settings.GEO_OPS_ROUTE_DEFAULT_VEHICLE
        if vehicle not in vehicle_types:
            vehicle = settings.GEO_OPS_ROUTE_DEFAULT_VEHICLE
        capacity = vehicle_types[vehicle].get("capacity")
        if profile and profile.load_capacity is not None:
            capacity = profile.load_capacity
        sites: list[DisposalSite] = []
        if capacity is not None:
            chosen = list(profile.disposal_sites.all()) if profile else []
            sites = [s for s in chosen if s.active] or all_sites
        shift, off_reason = crew_shift(crew=crew, plan_date=plan_date)
        rule = None
        if shift is not None:
            minutes = _pick(profile, "break_minutes", default_break["minutes"])
            if minutes:
                earliest = _pick(profile, "break_earliest_minutes", default_break["earliest"])
                latest = _pick(profile, "break_latest_minutes", default_break["latest"])
                rule = BreakRule(
                    minutes=minutes,
                    earliest=shift.start + timedelta(minutes=earliest),
                    latest=shift.start + timedelta(minutes=latest),
                )
        out.append(
            CrewInput(
                crew=crew,
                vehicle_type=vehicle,
                capacity=capacity,
                shift=shift,
                off_reason=off_reason,
                break_rule=rule,
                depot=(crew.depot.x, crew.depot.y),
                disposal_sites=sites,
                skill_ids=skill_category_ids(crew),
                branch_ids=frozenset(b.pk for b in crew.branches.all()),
            )
        )
    return out


def _pick(profile, name: str, default):
    value = getattr(profile, name, None) if profile else None
    return default if value is None else value


# --- service times ------------------------------------------------------------------------------


def learned_service_minutes(*, category_ids, now: datetime | None = None) -> dict[int, float]:
    """Median minutes from start to completion of each (sub)category's completed jobs.

    One grouped statement over the completed assignments of the last `days`; a (sub)category
    with fewer than `min_samples` completions is left out (the configured default applies).
    """
    learning = settings.GEO_OPS_ROUTE_SERVICE_LEARNING
    since = (now or timezone.now()) - timedelta(days=learning["days"])
    rows = (
        Assignment.objects.filter(
            state=AssignmentState.COMPLETED,
            started_at__isnull=False,
            completed_at__gt=F("started_at"),
            completed_at__gte=since,
        )
        .annotate(cat=Coalesce("report__subcategory_id", "report__category_id"))
        .filter(cat__in=list(category_ids))
        .values("cat")
        .annotate(
            median=Median(F("completed_at") - F("started_at"), output_field=DurationField()),
            n=Count("id"),
        )
    )
    out = {}
    for row in rows:
        if row["n"] >= learning["min_samples"]:
            minutes = row["median"].total_seconds() / 60
            out[row["cat"]] = min(max(minutes, learning["min"]), learning["max"])
    return out


def service_minutes_for(
    *, category: Category, subcategory: Category | None, learned: dict[int, float]
) -> float:
    """Learned median of the subcategory (else the category), else the configured default."""
    configured = settings.GEO_OPS_ROUTE_SERVICE_MINUTES
    for cat in (subcategory, category):
        if cat is not None and cat.pk in learned:
            return learned[cat.pk]
    for cat in (subcategory, category):
        if cat is not None and cat.code in configured:
            return float(configured[cat.code])
    return float(configured["default"])


def job_load(*, category: Category, subcategory: Category | None) -> int:
    loads = settings.GEO_OPS_ROUTE_JOB_LOAD
    for cat in (subcategory, category):
        if cat is not None and cat.code in loads:
            return int(loads[cat.code])
    return int(loads["default"])


def prize_for(priority: int, *, factor: float = 1.0) -> int:
    prizes = settings.GEO_OPS_ROUTE_PRIZES
    value = prizes.get(priority) or prizes.get(str(priority)) or prizes[2]
    return int(value * factor)


# --- stops ----------------------------------------------------------------------------------------


def _report_stop(report: Report, *, kind: str, learned, factor: float = 1.0, **extra) -> StopInput:
    specific = report.subcategory or report.category
    return StopInput(
        key=extra.pop("key"),
        kind=kind,
        point=(report.location.x, report.location.y),
        priority=report.priority,
        service_s=60.0
        * service_minutes_for(
            category=report.category, subcategory=report.subcategory, learned=learned
        ),
        load=job_load(category=report.category, subcategory=report.subcategory),
        prize=prize_for(report.priority, factor=factor),
        category_ids=frozenset(c for c in (report.category_id, report.subcategory_id) if c),
        label=f"{report.tracking_number} {specific.code}",
        due_at=report.due_at,
        report_id=report.pk,
        **extra,
    )


def crew_jobs_for_plan(*, crews: list[Crew]) -> list[Assignment]:
    """The crews' open jobs (every active state), with report and categories."""
    return list(
        Assignment.objects.filter(crew__in=crews, state__in=ACTIVE_STATES)
        .select_related("report__category", "report__subcategory")
        .defer("report__description")
        .order_by("pk")
    )


def unassigned_nearby(
    *, anchors: list[Point2], category_ids, radius_m: float, limit: int = 500
) -> list[Report]:
    """Open reports no crew has, of the given categories, within `radius_m` of any anchor.

    One statement: the anchors travel as two float arrays; metres on geography (the spheroid),
    behind a bounding-box test on the geometry that the reports' GiST index answers (the box is
    grown by more than the radius in degrees at this latitude).
    """
    if not anchors or not category_ids:
        return []
    sql = """
        WITH a AS (
            SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS g
            FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) AS t(x, y)
        )
        SELECT r.id FROM reports_report AS r
        WHERE r.status = %(new)s
          AND (r.category_id = ANY(%(cats)s) OR r.subcategory_id = ANY(%(cats)s))
          AND NOT EXISTS (
              SELECT 1 FROM fieldteams_assignment AS j
              WHERE j.report_id = r.id AND j.state = ANY(%(active)s))
          AND EXISTS (
              SELECT 1 FROM a
              WHERE r.location && ST_Expand(a.g, %(deg)s)
                AND ST_DWithin(r.location::geography, a.g::geography, %(radius)s))
        ORDER BY r.priority DESC, r.due_at NULLS LAST, r.id
        LIMIT %(limit)s
    """
    lat = max(abs(y) for _x, y in anchors)
    # Degrees of longitude shrink with cos(latitude): grow the box by the larger of the two.
    deg = radius_m / 111_000 / max(math.cos(math.radians(min(lat + 1, 89))), 0.01) * 1.1
    params = {
        "xs": [x for x, _y in anchors],
        "ys": [y for _x, y in anchors],
        "new": Status.NEW,
        "cats": list(category_ids),
        "active": [str(s) for s in ACTIVE_STATES],
        "deg": deg,
        "radius": radius_m,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    reports = Report.objects.filter(pk__in=ids).select_related("category", "subcategory")
    by_id = {r.pk: r for r in reports}
    return [by_id[i] for i in ids if i in by_id]


def hotspot_clusters(*, category_ids, branch_ids) -> list[HotspotCluster]:
    """Cleanup stops from the newest DBSCAN run that covers these categories and branches.

    The newest cluster run whose filters are these branches (or all) and these categories (or
    all) is read; its clusters of the categories, in the branches, with enough open reports.
    """
    top_level = [
        c
        for c in Category.objects.filter(
            pk__in=list(category_ids), parent__isnull=True
        ).values_list("pk", flat=True)
    ]
    run = (
        HotspotRun.objects.filter(kind=HotspotRun.Kind.CLUSTERS)
        .filter(Q(branch__isnull=True) | Q(branch_id__in=list(branch_ids)))
        .filter(Q(category__isnull=True) | Q(category_id__in=top_level))
        .order_by("-started_at", "-id")
        .first()
    )
    if run is None:
        return []
    return list(
        HotspotCluster.objects.filter(
            run=run,
            category_id__in=top_level,
            branch_id__in=list(branch_ids),
            open_count__gte=settings.GEO_OPS_ROUTE_HOTSPOT["min_open"],
        ).order_by("-score", "id")
    )


def hotspot_stop(cluster: HotspotCluster) -> StopInput:
    conf = settings.GEO_OPS_ROUTE_HOTSPOT
    load = min(conf["max_load"], max(1, math.ceil(cluster.open_count * conf["load_per_report"])))
    return StopInput(
        key=f"h{cluster.pk}",
        kind=StopKind.HOTSPOT,
        point=(cluster.centroid.x, cluster.centroid.y),
        priority=1,
        service_s=60.0 * conf["minutes"],
        load=load,
        prize=int(settings.GEO_OPS_ROUTE_HOTSPOT_PRIZE),
        category_ids=frozenset(
            c for c in (cluster.category_id, cluster.dominant_subcategory_id) if c
        ),
        label=f"hotspot {cluster.pk} ({cluster.open_count} open)",
        cluster_id=cluster.pk,
    )


def stops_for_jobs(*, jobs: list[Assignment], learned) -> list[StopInput]:
    return [
        _report_stop(
            job.report,
            kind=StopKind.JOB,
            learned=learned,
            key=f"a{job.pk}",
            assignment_id=job.pk,
            crew_id=job.crew_id,
        )
        for job in jobs
    ]


def stops_for_unassigned(*, reports: list[Report], learned) -> list[StopInput]:
    factor = settings.GEO_OPS_ROUTE_UNASSIGNED_PRIZE_FACTOR
    return [
        _report_stop(r, kind=StopKind.UNASSIGNED, learned=learned, factor=factor, key=f"r{r.pk}")
        for r in reports
    ]
