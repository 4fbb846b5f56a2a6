"""The crew map with today's route plan, in a real headless Chromium (tests/browser.py): the
route line is drawn, the jobs are numbered in route order on the map and in the list with their
ETAs, and an urgent job that arrives after the plan brings an offer to re-plan, which keeps the
job already started first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from fieldteams.models import Assignment, AssignmentState, CrewShift
from fieldteams.routing.inputs import day_origin
from fieldteams.routing.models import PlanStatus, RoutePlan, StopKind
from fieldteams.routing.services import route_plan_create
from tests.browser import ARTIFACTS, PHONE

from .conftest import offset, place
from .test_crew_browser import sign_in
from .test_route_plans import CENTRE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROUTE_COLOUR = "#0b5d57"  # crew_map.js draws the plan's line in this colour


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
    # Round the clock today, so the plan and the re-plan work whenever the suite runs.
    CrewShift.objects.create(crew=crew, weekday=today.weekday(), starts="00:00", ends="00:00")
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
