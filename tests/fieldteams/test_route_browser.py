"""The crew map with today's route plan, in a real headless Chromium (tests/browser.py): the
route line is drawn, the jobs are numbered in route order on the map and in the list with their
ETAs, and an urgent job that arrives after the plan brings an offer to re-plan, which keeps the
job already started first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fieldteams.models import (
    Assignment,
    AssignmentState,
    CrewShift,
    PlanStatus,
    RoutePlan,
    StopKind,
)
from fieldteams.routing.inputs import day_origin
from fieldteams.routing.services import route_plan_create
from tests.browser import ARTIFACTS, PHONE

from .conftest import offset, place
from .test_crew_browser import sign_in
from .test_route_plans import CENTRE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROUTE_COLOUR = "#0b5d57"  # crew_map.js draws the plan's line in this colour


def all_day_shift(crew) -> None:
    """A 24-hour shift starting today an hour before now (at midnight at the earliest): the
    pages plan "from now", and the rest of the shift is long whenever the suite runs."""
    now = timezone.localtime()
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    starts = start.time().replace(second=0, microsecond=0)
    CrewShift.objects.create(crew=crew, weekday=now.weekday(), starts=starts, ends=starts)


def planned_order(plan: RoutePlan) -> list[int]:
    return list(
        plan.routes.get()
        .stops.filter(kind=StopKind.JOB)
        .order_by("sequence")
        .values_list("assignment_id", flat=True)
    )


def shown(page) -> tuple[list[int], dict[str, str]]:
    """(assignment ids in list order, {tracking number: marker number})."""
    listed = page.eval_on_selector_all(".job", "els => els.map(e => Number(e.dataset.assignment))")
    markers = dict(
        page.eval_on_selector_all(
            ".leaflet-marker-icon",
            "els => els.map(e => [e.getAttribute('title'), e.textContent.trim()])",
        )
    )
    return listed, markers


def test_crew_map_draws_the_route_and_numbers_jobs_in_route_order(
    browse, reference_data, make_crew, make_member
):
    crew = make_crew("dmm-route", depot=offset(CENTRE, metres=1500, azimuth=200), capacity=50)
    make_member("rami", crew)
    today = timezone.localdate()
    all_day_shift(crew)
    reports = [
        place("pothole", offset(CENTRE, metres=2500, azimuth=a)) for a in (0, 70, 140, 210, 280)
    ]
    plan = route_plan_create(
        plan_date=today,
        crew=crew,
        options={"time_limit_s": 0.5},
        now=day_origin(today) + timedelta(minutes=30),
    )
    assert plan.status == PlanStatus.DONE and plan.check_errors == []
    order = planned_order(plan)
    assert len(order) == len(reports)

    browsing = browse(viewport=PHONE, mobile=True)
    browsing.artifacts = ARTIFACTS.parent / "crew"
    page = browsing.page
    sign_in(browsing, "rami")
    page.wait_for_function(f"document.body.dataset.routePlan === '{plan.pk}'", timeout=15_000)

    # The route line: one polyline through the depot and every job.
    line = page.locator(f'path[stroke="{ROUTE_COLOUR}"]')
    assert line.count() == 1
    assert line.get_attribute("d").count("L") >= len(reports)
    # Numbers in route order, on the list and on the markers, each with its ETA.
    listed, markers = shown(page)
    assert listed == order
    tracking = dict(
        Assignment.objects.filter(pk__in=order).values_list("pk", "report__tracking_number")
    )
    assert {tracking[pk]: str(n) for n, pk in enumerate(order, start=1)} == markers
    assert page.locator(".job-number").all_inner_texts() == [str(n) for n in range(1, 6)]
    assert page.locator(".job .job-eta").count() == len(order)
    assert page.locator("#replan-offer").is_hidden()
    browsing.screenshot("crew-route-phone-en")

    # The crew starts the first job; an urgent job arrives: the page offers a re-plan.
    Assignment.objects.filter(pk=order[0]).update(
        state=AssignmentState.IN_PROGRESS, started_at=timezone.now() - timedelta(minutes=5)
    )
    urgent = place("missing_manhole_cover", offset(CENTRE, metres=800, azimuth=100))
    urgent_job = Assignment.objects.get(report=urgent)
    assert urgent_job.crew == crew
    page.reload()
    page.wait_for_function("document.body.dataset.replanOffered === '1'", timeout=15_000)
    assert "new urgent job" in page.inner_text("#replan-offer")
    browsing.screenshot("crew-replan-offer-phone-en")
    page.click("#replan-button")
    page.wait_for_function(
        f"document.body.dataset.routePlan && document.body.dataset.routePlan !== '{plan.pk}'"
        " && document.body.dataset.replanOffered === '0'",
        timeout=20_000,
    )
    replan = RoutePlan.objects.get(replan_of=plan)
    assert replan.status == PlanStatus.DONE and replan.check_errors == []
    new_order = planned_order(replan)
    assert new_order[0] == order[0]  # the started job stays first
    assert urgent_job.pk in new_order
    listed, markers = shown(page)
    assert listed == new_order
    assert page.locator(f'path[stroke="{ROUTE_COLOUR}"]').count() == 1
    browsing.screenshot("crew-replanned-phone-en")
    browsing.assert_clean()


def _cleanup_round_planned(make_crew, today):
    """Two cleanup trucks with a landfill, eight overflowing bins in Dammam, today's plan."""
    from django.contrib.gis.geos import Point

    from fieldteams.models import CrewRouting, DisposalSite
    from layers.models import BranchMunicipality

    trucks = [
        make_crew(
            f"dmm-clean-{n}",
            skills=["public_cleanliness"],
            depot=offset(CENTRE, metres=1200, azimuth=120 * n),
            capacity=50,
        )
        for n in (1, 2)
    ]
    for truck in trucks:
        CrewRouting.objects.create(crew=truck, vehicle_type="truck", load_capacity=6)
        all_day_shift(truck)
    DisposalSite.objects.create(
        code="landfill",
        name_en="Landfill",
        name_ar="مردم",
        location=Point(*offset(CENTRE, metres=3000, azimuth=300), srid=4326),
    )
    for a in range(0, 360, 45):
        place("overflowing_bins", offset(CENTRE, metres=2200, azimuth=a))
    dammam = BranchMunicipality.objects.get(code="dammam")
    department = trucks[0].department
    plan = route_plan_create(
        plan_date=today,
        department=department,
        branch=dammam,
        options={"time_limit_s": 0.5},
        now=day_origin(today),
    )
    assert plan.status == PlanStatus.DONE and plan.check_errors == []
    return department, plan


def test_planner_dashboard_shows_the_days_plans_and_plans_cleanup_rounds(
    browse, reference_data, make_crew, settings
):
    from django.contrib.gis.geos import Point, Polygon

    from geo_ops.hotspots.models import HotspotCluster, HotspotRun
    from geo_ops.reports.models import Category
    from tests.hotspots.hotspot_data import make_planner

    settings.GEO_OPS_ROUTE_TIME_LIMIT_S = 1.0  # the page asks with the default limit
    today = timezone.localdate()
    department, plan = _cleanup_round_planned(make_crew, today)
    dammam = plan.branch
    make_planner("planner")

    browsing = browse()
    page = browsing.page
    browsing.goto("/planner/login/?next=/planner/")
    page.fill("#id_username", "planner")
    page.fill("#id_password", "planner-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/planner/")
    page.select_option("#route-department", department.code)
    page.wait_for_function(
        "Number(document.body.dataset.routeLoads || 0) >= 1"
        " && document.body.dataset.routeBusy === '0' && document.body.dataset.routePlans === '1'",
        timeout=20_000,
    )
    lines = plan.routes.exclude(geometry=None).count()
    assert lines >= 1 and page.locator("path.route-line").count() == lines
    assert page.locator(".route-stop-label.is-job").count() == 8
    assert page.locator(".route-plan .route-row").count() == 2
    assert page.locator(".route-stop-label.is-hotspot").count() == 0

    # The hotspot layers are recomputed (the dashboard computed its own runs on loading):
    # the newest cluster run has a cleanliness hotspot in Dammam.
    loads = int(page.evaluate("Number(document.body.dataset.plannerLoads || 0)"))
    page.select_option("#filter-branch", "dammam")
    page.wait_for_function(
        f"Number(document.body.dataset.plannerLoads || 0) > {loads}"
        " && document.body.dataset.plannerBusy === '0'",
        timeout=30_000,
    )
    now = timezone.now()
    run = HotspotRun.objects.create(
        kind=HotspotRun.Kind.CLUSTERS,
        date_from=now - timedelta(days=90),
        date_to=now,
        signature="t",
        fingerprint="t",
    )
    lon, lat = offset(CENTRE, metres=1800, azimuth=200)
    hull = Polygon.from_bbox((lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001))
    hull.srid = 4326
    HotspotCluster.objects.create(
        run=run,
        category=Category.objects.get(code="public_cleanliness"),
        hull=hull,
        centroid=Point(lon, lat, srid=4326),
        area_m2=40_000,
        report_count=10,
        open_count=4,
        first_report_at=now - timedelta(days=60),
        last_report_at=now,
        branch=dammam,
        score=3.0,
        eps_m=150,
        min_points=5,
    )
    # Cleanup rounds from the hotspots for the branch chosen in the filters.
    loads = int(page.evaluate("Number(document.body.dataset.routeLoads)"))
    page.click("#route-cleanup")
    page.wait_for_function(
        f"Number(document.body.dataset.routeLoads || 0) > {loads}"
        " && document.body.dataset.routeBusy === '0'",
        timeout=30_000,
    )
    cleanup = RoutePlan.objects.exclude(pk=plan.pk).get()
    assert cleanup.options["include_hotspots"] and cleanup.check_errors == []
    assert cleanup.created_by.username == "planner"
    # The newest plan of the branch replaces the older one on the map, hotspot stop included.
    assert page.locator(".route-stop-label.is-hotspot").count() == 1
    assert "cleanup rounds" in page.inner_text("#route-plans")
    browsing.screenshot("planner-route-plans")
    browsing.assert_clean()
