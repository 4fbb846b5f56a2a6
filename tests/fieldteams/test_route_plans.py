"""Route plans (fieldteams.routing): planning from the database, feasibility of every stored plan
(shifts, windows, breaks, loads and disposal trips) by the independent checks, stops left out
with their reasons, re-planning that keeps started jobs, learnt service times, hotspot stops.

Every plan here is checked twice: by fieldteams.routing.checks on the solver's instance (the
planner stores its findings in `check_errors`) and by fieldteams.routing.validate on the stored
rows (also in `check_errors`); `assert_feasible` also re-derives the main rules itself.
Solver time limits are short (0.5-1 s) to keep the module fast.
"""

from datetime import date, timedelta

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.utils import timezone

from fieldteams.models import (
    Assignment,
    AssignmentState,
    CrewRouting,
    CrewShift,
    DisposalSite,
    DropReason,
    PlanStatus,
    RoutePlan,
    StopKind,
)
from fieldteams.routing.inputs import day_origin
from fieldteams.routing.services import route_plan_create, route_replan
from fieldteams.routing.validate import plan_violations
from geo_ops.hotspots.models import HotspotCluster, HotspotRun
from geo_ops.reports.models import Category, Priority, Report
from layers.models import BranchMunicipality

from .conftest import offset, place

pytestmark = pytest.mark.django_db
FAST = {"time_limit_s": 0.5}
# Inland Dammam: everything within 5 km of it lies inside the Dammam branch municipality.
CENTRE = (50.02, 26.40)


def next_sunday(weeks: int = 1) -> date:
    today = timezone.localdate()
    return today + timedelta(days=(6 - today.weekday()) % 7 + 7 * weeks)


PLAN_DAY = next_sunday()


def at(hour: float, day: date = PLAN_DAY):
    return day_origin(day) + timedelta(hours=hour)


def ring(n: int, *, metres: float, category: str = "pothole", start_azimuth: float = 0):
    """n reports on a circle around inland Dammam (far enough apart not to be duplicates)."""
    return [
        place(category, offset(CENTRE, metres=metres, azimuth=start_azimuth + 360 * i / n))
        for i in range(n)
    ]


def assert_feasible(plan: RoutePlan):
    """The stored plan passes both independent checks, and the basic rules hold on its rows."""
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DONE, plan.error
    assert plan.check_errors == [], plan.check_errors
    assert plan_violations(plan=plan) == []
    for route in plan.routes.all():
        stops = list(route.stops.order_by("sequence"))
        assert stops[0].kind == StopKind.START and stops[-1].kind == StopKind.END
        assert stops[0].departure_at >= route.shift_start
        assert stops[-1].arrival_at <= route.shift_end
        for prev, stop in zip(stops, stops[1:], strict=False):
            if not (stop.kept and stop.travel_s == 0):  # a job in progress began before the plan
                assert stop.arrival_at >= prev.departure_at
            assert stop.start_at >= stop.arrival_at
            if stop.window_end:
                assert stop.start_at <= stop.window_end
        if route.load_capacity is not None:
            assert max(s.load_after for s in stops) <= route.load_capacity


@pytest.fixture
def roads(make_crew):
    """A Dammam road crew with the default shift (07:00-15:00) and a 30-minute break."""
    return make_crew("dmm-roads", depot=offset(CENTRE, metres=1500, azimuth=200), capacity=60)


def test_a_crews_day_is_planned_in_order_with_etas_break_and_line(roads, settings):
    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 40}
    reports = ring(8, metres=2500)
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="test")
    assert_feasible(plan)
    assert plan.jobs_planned == 8 and plan.jobs_dropped == 0
    route = plan.routes.get()
    stops = list(route.stops.order_by("sequence"))
    jobs = [s for s in stops if s.kind == StopKind.JOB]
    assert {s.report_id for s in jobs} == {r.pk for r in reports}
    assert all(s.assignment_id for s in jobs)
    assert stops[0].departure_at == at(7)
    assert all(s.service_s == 40 * 60 for s in jobs)
    # 8 x 40 min of work runs past 10:00: the break is taken in its window (10:00-12:00).
    (pause,) = [s for s in stops if s.kind == StopKind.BREAK]
    assert at(10) <= pause.start_at <= at(12) and pause.service_s == 30 * 60
    assert route.break_s == 30 * 60
    assert route.distance_m == pytest.approx(sum(s.distance_m for s in stops))
    assert route.working_s == (stops[-1].arrival_at - stops[0].departure_at).total_seconds()
    assert route.working_s == pytest.approx(
        route.driving_s + route.service_s + route.waiting_s + route.break_s, abs=2
    )
    assert route.geometry.geom_type == "LineString" and route.geometry.num_points >= 9
    assert plan.solver == "pyvrp" and plan.travel_times == "great-circle"


def test_when_the_shift_is_too_short_low_priority_jobs_are_dropped_with_a_reason(roads, settings):
    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 45}
    low = ring(8, metres=2000, category="damaged_sidewalk")  # priority 1
    high = ring(6, metres=2600, category="stormwater_drain", start_azimuth=20)  # priority 3
    assert {r.priority for r in low} == {Priority.LOW} and {r.priority for r in high} == {3}
    plan = route_plan_create(
        plan_date=PLAN_DAY, crew=roads, options={"time_limit_s": 1}, actor_label="test"
    )
    assert_feasible(plan)
    drops = list(plan.drops.all())
    assert drops and plan.jobs_dropped == len(drops)
    assert plan.jobs_planned + plan.jobs_dropped == 14  # nothing silently lost
    # Only low-priority jobs are left out, each with its reason.
    assert {d.report_id for d in drops} <= {r.pk for r in low}
    assert all(d.reason == DropReason.NO_ROOM and "priority 1" in d.detail for d in drops)
    assert all(d.crew_id == roads.pk and d.assignment_id for d in drops)
    planned = set(
        plan.routes.get().stops.filter(kind=StopKind.JOB).values_list("report_id", flat=True)
    )
    assert {r.pk for r in high} <= planned


def test_sla_due_times_are_time_windows(roads):
    reports = ring(6, metres=3000)
    # Two due during the day: they must be served before due minus their service time.
    Report.objects.filter(pk=reports[0].pk).update(due_at=at(8, PLAN_DAY))
    Report.objects.filter(pk=reports[3].pk).update(due_at=at(9.5, PLAN_DAY))
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="test")
    assert_feasible(plan)
    stops = {s.report_id: s for s in plan.routes.get().stops.filter(kind=StopKind.JOB)}
    for report, due in ((reports[0], at(8)), (reports[3], at(9.5))):
        stop = stops[report.pk]
        assert stop.window_end == due - timedelta(seconds=stop.service_s)
        assert stop.departure_at <= due and not stop.late


def test_a_due_time_that_cannot_be_met_is_planned_late_not_lost(roads):
    (report,) = ring(1, metres=3000)
    Report.objects.filter(pk=report.pk).update(due_at=at(7.05))  # 3 minutes after departure
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="test")
    assert_feasible(plan)
    stop = plan.routes.get().stops.get(kind=StopKind.JOB)
    assert stop.late and stop.window_end is None


def test_penalty_mode_plans_without_windows_and_reports_lateness(roads):
    reports = ring(4, metres=3000)
    Report.objects.filter(pk=reports[0].pk).update(due_at=at(7.2))
    plan = route_plan_create(
        plan_date=PLAN_DAY, crew=roads, options={**FAST, "sla": "penalty"}, actor_label="t"
    )
    assert_feasible(plan)
    stops = list(plan.routes.get().stops.filter(kind=StopKind.JOB))
    assert all(s.window_end is None for s in stops) and len(stops) == 4


def test_a_crew_off_that_day_gets_no_route_and_its_jobs_are_listed(roads):
    reports = ring(2, metres=2000)
    CrewShift.objects.create(crew=roads, weekday=0, starts="07:00", ends="15:00")  # Mondays only
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="t")
    assert_feasible(plan)
    assert plan.routes.count() == 0
    drops = list(plan.drops.all())
    assert {d.report_id for d in drops} == {r.pk for r in reports}
    assert all(d.reason == DropReason.OFF_SHIFT and "Sunday" in d.detail for d in drops)


def test_night_shift_runs_past_midnight(roads):
    ring(3, metres=2000)
    CrewShift.objects.create(crew=roads, weekday=6, starts="22:00", ends="06:00")
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="t")
    assert_feasible(plan)
    route = plan.routes.get()
    assert route.shift_start == at(22) and route.shift_end == at(30)
    assert route.stops.filter(kind=StopKind.JOB).count() == 3


def test_service_time_is_the_median_of_past_completions(roads, settings):
    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 30}
    settings.GEO_OPS_ROUTE_SERVICE_LEARNING = {"days": 180, "min_samples": 3, "min": 5, "max": 240}
    done = ring(5, metres=4000)
    now = timezone.now()
    for minutes, report in zip((10, 12, 20, 50, 90), done, strict=True):
        Assignment.objects.filter(report=report).update(
            state=AssignmentState.COMPLETED,
            started_at=now - timedelta(days=3, minutes=minutes),
            completed_at=now - timedelta(days=3),
        )
    pothole = ring(1, metres=1000)[0]
    lamp_crew_job = ring(1, metres=1200, category="open_excavation")[0]
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="t")
    assert_feasible(plan)
    stops = {s.report_id: s for s in plan.routes.get().stops.filter(kind=StopKind.JOB)}
    assert stops[pothole.pk].service_s == 20 * 60  # median of 10, 12, 20, 50, 90
    assert stops[lamp_crew_job.pk].service_s == 30 * 60  # no history: the default


@pytest.fixture
def cleanup(make_crew, department):
    """Two cleanliness trucks (load 4) in Dammam and a disposal site."""
    trucks = [
        make_crew(
            f"dmm-clean-{n}",
            skills=["public_cleanliness"],
            depot=offset(CENTRE, metres=1200, azimuth=90 * n),
            capacity=60,
        )
        for n in (1, 2)
    ]
    site = DisposalSite.objects.create(
        code="dmm-landfill",
        name_en="Dammam landfill",
        name_ar="مردم الدمام",
        location=Point(*offset(CENTRE, metres=3000, azimuth=300), srid=4326),
        unload_minutes=10,
    )
    for truck in trucks:
        CrewRouting.objects.create(crew=truck, vehicle_type="truck", load_capacity=4)
    return trucks, site


def test_cleanup_trucks_unload_at_the_disposal_site_mid_shift(cleanup, settings):
    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 10}
    trucks, site = cleanup
    reports = ring(14, metres=2200, category="overflowing_bins")  # load 1 each
    assert {Assignment.objects.get(report=r).crew for r in reports} <= set(trucks)
    branch = BranchMunicipality.objects.get(code="dammam")
    plan = route_plan_create(
        plan_date=PLAN_DAY,
        department=trucks[0].department,
        branch=branch,
        options={"time_limit_s": 1},
        actor_label="t",
    )
    assert_feasible(plan)
    assert plan.jobs_planned == 14 and plan.jobs_dropped == 0
    routes = list(plan.routes.all())
    assert len(routes) == 2
    for route in routes:
        stops = list(route.stops.order_by("sequence"))
        jobs = [s for s in stops if s.kind == StopKind.JOB]
        disposals = [s for s in stops if s.kind == StopKind.DISPOSAL]
        if not jobs:
            assert not disposals
            continue
        # 14 loads for trucks of 4: every trip ends at the disposal site, the last one too
        # (a truck goes home empty).
        assert len(disposals) >= -(-len(jobs) // 4)
        assert route.trips == len(disposals)
        assert stops[-2].kind == StopKind.DISPOSAL
        assert all(s.disposal_site_id == site.pk and s.service_s == 600 for s in disposals)
        assert all(s.load_after == 0 for s in disposals)
        trips = {}
        for s in jobs:
            trips[s.trip] = trips.get(s.trip, 0) + s.load
        assert max(trips.values()) <= 4 and len(trips) == route.trips


def test_a_department_shares_its_jobs_and_apply_hands_them_over(cleanup, settings, make_user):
    from fieldteams.routing.services import route_plan_apply

    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 10}
    trucks, _site = cleanup
    reports = ring(6, metres=1500, category="litter")
    # All jobs on the first truck: the shared plan spreads them when one truck cannot do it all.
    for report in reports:
        Assignment.objects.filter(report=report).update(crew=trucks[0])
    branch = BranchMunicipality.objects.get(code="dammam")
    plan = route_plan_create(
        plan_date=PLAN_DAY, department=trucks[0].department, branch=branch, options=FAST
    )
    assert_feasible(plan)
    moved = [
        s
        for s in plan.routes.exclude(crew=trucks[0]).get().stops.filter(kind=StopKind.JOB)
        if s.assignment.crew_id == trucks[0].pk
    ]
    changed = route_plan_apply(plan=plan, actor=make_user("boss"), actor_label="user:boss")
    assert changed == len(moved)
    for stop in moved:
        assert Assignment.objects.get(report_id=stop.report_id, state="assigned").crew == trucks[1]


def test_unassigned_reports_nearby_are_optional_stops(roads, settings):
    settings.GEO_OPS_DISPATCH_ON_INTAKE = False
    near = place("pothole", offset(CENTRE, metres=1000, azimuth=200))
    far = place("pothole", offset(CENTRE, metres=4800, azimuth=90))
    lights = place("street_light_out", offset(CENTRE, metres=900, azimuth=200))
    settings.GEO_OPS_DISPATCH_ON_INTAKE = True
    mine = ring(2, metres=2000)
    assert not Assignment.objects.filter(report__in=[near, far, lights]).exists()
    plan = route_plan_create(
        plan_date=PLAN_DAY,
        crew=roads,
        options={**FAST, "include_unassigned": True, "unassigned_radius_m": 3000},
        actor_label="t",
    )
    assert_feasible(plan)
    stops = list(plan.routes.get().stops.exclude(kind__in=["start", "end", "break"]))
    assert {s.report_id for s in stops} == {near.pk, *(r.pk for r in mine)}
    (extra,) = [s for s in stops if s.kind == StopKind.UNASSIGNED]
    assert extra.report_id == near.pk and extra.assignment_id is None


def test_hotspot_cleanup_stops_come_from_the_newest_cluster_run(cleanup):
    trucks, _site = cleanup
    dammam = BranchMunicipality.objects.get(code="dammam")
    category = Category.objects.get(code="public_cleanliness")
    now = timezone.now()
    run = HotspotRun.objects.create(
        kind=HotspotRun.Kind.CLUSTERS,
        date_from=now - timedelta(days=90),
        date_to=now,
        signature="t",
        fingerprint="t",
    )

    def cluster(lon_lat, open_count):
        lon, lat = lon_lat
        hull = Polygon.from_bbox((lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001))
        hull.srid = 4326
        return HotspotCluster.objects.create(
            run=run,
            category=category,
            hull=hull,
            centroid=Point(lon, lat, srid=4326),
            area_m2=40_000,
            report_count=12,
            open_count=open_count,
            first_report_at=now - timedelta(days=60),
            last_report_at=now,
            branch=dammam,
            score=4.0,
            eps_m=150,
            min_points=5,
        )

    hot = [cluster(offset(CENTRE, metres=2000, azimuth=a), 6) for a in (30, 150)]
    cold = cluster(offset(CENTRE, metres=2500, azimuth=250), 0)  # nothing open: no stop
    plan = route_plan_create(
        plan_date=PLAN_DAY,
        department=trucks[0].department,
        branch=dammam,
        options={**FAST, "include_hotspots": True},
    )
    assert_feasible(plan)
    stops = [s for r in plan.routes.all() for s in r.stops.all() if s.kind == StopKind.HOTSPOT]
    assert {s.cluster_id for s in stops} == {c.pk for c in hot}
    assert cold.pk not in {s.cluster_id for s in stops}
    assert all(s.load == 3 and s.service_s == 20 * 60 for s in stops)  # 6 open x 0.5


def test_a_replan_keeps_started_jobs_first_and_takes_the_urgent_new_one(roads):
    reports = ring(6, metres=2500)
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, actor_label="t")
    assert_feasible(plan)
    order = [
        s.assignment_id
        for s in plan.routes.get().stops.filter(kind=StopKind.JOB).order_by("sequence")
    ]
    # At 09:00 the crew has done the first job and is working on the second.
    first, second = (Assignment.objects.get(pk=pk) for pk in order[:2])
    Assignment.objects.filter(pk=first.pk).update(
        state=AssignmentState.COMPLETED, started_at=at(7.3), completed_at=at(7.8)
    )
    Assignment.objects.filter(pk=second.pk).update(
        state=AssignmentState.IN_PROGRESS, started_at=at(8.8)
    )
    urgent = place("missing_manhole_cover", offset(CENTRE, metres=3500, azimuth=45))
    assert Assignment.objects.get(report=urgent).crew == roads
    replan = route_replan(plan=plan, actor_label="t", now=at(9))
    assert_feasible(replan)
    assert replan.replan_of == plan
    stops = list(replan.routes.get().stops.order_by("sequence"))
    assert stops[0].kind == StopKind.START and stops[0].departure_at == at(9)
    kept = stops[1]
    assert kept.kept and kept.assignment_id == second.pk and kept.start_at == at(8.8)
    assert all(not s.kept for s in stops[2:])
    planned = {s.report_id for s in stops if s.kind == StopKind.JOB}
    assert urgent.pk in planned
    assert {r.pk for r in reports} - {first.report_id} <= planned
    assert first.report_id not in planned  # completed: not planned again
    # The rest starts where the kept job ends (after its service time), no earlier.
    assert stops[2].arrival_at >= kept.departure_at


def test_failed_plan_is_stored_not_raised(roads, monkeypatch):
    from fieldteams.routing import services

    def boom(**kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(services, "_plan", boom)
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST)
    assert plan.status == PlanStatus.FAILED and "solver exploded" in plan.error


def test_the_celery_task_computes_a_queued_plan(roads):
    from fieldteams.routing.tasks import route_plan_compute

    ring(2, metres=2000)
    plan = RoutePlan.objects.create(plan_date=PLAN_DAY, crew=roads, options=FAST)
    result = route_plan_compute.apply(args=[plan.pk]).get()
    assert result == {"plan": plan.pk, "status": "done", "jobs_planned": 2, "jobs_dropped": 0}
    assert_feasible(plan)


def test_a_background_plan_is_queued_by_the_task_name(roads, django_capture_on_commit_callbacks):
    # services queue the task by its name (they do not import tasks.py): where the task is
    # registered, eager mode still runs it in-process after the commit.
    from celery import current_app

    from fieldteams.routing import tasks

    ring(2, metres=2000)
    current_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST, background=True)
            assert plan.status == PlanStatus.QUEUED
    finally:
        current_app.conf.task_always_eager = False
    assert tasks.route_plan_compute.name in current_app.tasks
    assert_feasible(plan)


class ManhattanTravelTimes:
    """A stand-in provider (what a pgRouting one would be): the planner must not care."""

    name = "manhattan-test"

    def matrices(self, *, points, vehicle_type):
        import numpy as np

        from fieldteams.routing.travel import Matrices

        xy = np.asarray(points) * [100_000, 111_000]  # rough metres at this latitude
        metres = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=-1)
        return Matrices(
            distances_m=np.rint(metres).astype(np.int64),
            durations_s=np.rint(metres / 10).astype(np.int64),
        )

    def line(self, *, points):
        out = []
        for (x0, y0), (x1, _y1) in zip(points, points[1:], strict=False):
            out += [(x0, y0), (x1, y0)]
        return out + [points[-1]]


def test_the_travel_time_provider_is_a_setting(roads, settings):
    settings.GEO_OPS_ROUTE_TRAVEL_TIMES = "tests.fieldteams.test_route_plans.ManhattanTravelTimes"
    ring(4, metres=2000)
    plan = route_plan_create(plan_date=PLAN_DAY, crew=roads, options=FAST)
    assert_feasible(plan)  # the stored legs agree with the provider's times and distances
    assert plan.travel_times == "manhattan-test"
    route = plan.routes.get()
    legs = [s for s in route.stops.all() if s.travel_s]
    assert all(s.travel_s == pytest.approx(s.distance_m / 10, abs=1) for s in legs)
    assert route.geometry.num_points > 6  # the provider's own path between stops


def test_great_circle_matrices_agree_with_postgis_geography(db):
    from fieldteams.routing.travel import (
        GreatCircleTravelTimes,
        PostgisTravelTimes,
        vehicle_speed_ms,
    )

    points = [
        CENTRE,
        offset(CENTRE, metres=5000, azimuth=60),
        offset(CENTRE, metres=900, azimuth=200),
    ]
    numpy = GreatCircleTravelTimes(detour_factor=1.0).matrices(points=points, vehicle_type="van")
    postgis = PostgisTravelTimes(detour_factor=1.0).matrices(points=points, vehicle_type="van")
    assert numpy.distances_m[0, 1] == pytest.approx(5000, rel=0.006)
    assert numpy.distances_m[0, 2] == pytest.approx(900, rel=0.006)
    assert numpy.distances_m == pytest.approx(postgis.distances_m, rel=0.006, abs=1)
    assert (numpy.distances_m.diagonal() == 0).all()
    speed = vehicle_speed_ms("van")
    assert numpy.durations_s[0, 1] == pytest.approx(numpy.distances_m[0, 1] / speed, abs=1)
    truck = GreatCircleTravelTimes().matrices(points=points, vehicle_type="truck")
    assert truck.durations_s[0, 1] > numpy.durations_s[0, 1]  # slower, and the detour factor
