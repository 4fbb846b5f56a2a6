"""The crew map (/crew/) in a real headless Chromium (the distribution's package, Playwright):
a crew member signs in on a phone-sized screen, sees exactly their crew's jobs, works one to
completion with a note, and the report's public status changes; updates made while offline are
queued and sent when the connection is back. Only the app and the test tile server may be
asked for anything; console errors fail the test (tests/browser.py)."""

import pytest

from fieldteams.models import Assignment, AssignmentState
from geo_ops.reports.models import Status
from tests.browser import ARTIFACTS, PHONE

from .conftest import DAMMAM, offset, place

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-Crew-2026!"
CREW_ARTIFACTS = ARTIFACTS.parent / "crew"


@pytest.fixture
def crews(reference_data, make_crew, make_member):
    """Two Dammam crews (roads; lighting) with a member each; two road jobs, one lighting job."""
    roads = make_crew("dmm-roads", depot=offset(DAMMAM, metres=1500, azimuth=200))
    lights = make_crew("dmm-lights", skills=["lighting_billboards"])
    ali = make_member("ali", roads)
    make_member("badr", lights)
    mine = [
        place("pothole", offset(DAMMAM, metres=400, azimuth=250), phone="+966500000009"),
        place("missing_manhole_cover", offset(DAMMAM, metres=900, azimuth=200)),
    ]
    theirs = place("street_light_out", offset(DAMMAM, metres=300, azimuth=10))
    assert {Assignment.objects.get(report=r).crew for r in mine} == {roads}
    assert Assignment.objects.get(report=theirs).crew == lights
    return ali, mine, theirs


def sign_in(browsing, username: str):
    page = browsing.page
    browsing.goto("/crew/login/?next=/crew/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    assert page.url.endswith("/crew/")
    page.wait_for_function("Number(document.body.dataset.jobsLoaded || 0) >= 1", timeout=15_000)


def wait_synced(browsing, *, jobs: int | None = None):
    """Until the queue is empty and (optionally) the list holds `jobs` jobs."""
    condition = "document.body.dataset.queue === '0'"
    if jobs is not None:
        condition += f" && document.body.dataset.jobs === '{jobs}'"
    browsing.page.wait_for_function(condition, timeout=15_000)


def click_action(browsing, tracking: str, to: str):
    item = browsing.page.locator(f'.job[data-tracking="{tracking}"]')
    item.locator(f'button[data-to="{to}"]').click()


def test_crew_member_completes_a_job_and_the_public_status_changes(browse, crews):
    ali, mine, theirs = crews
    browsing = browse(viewport=PHONE, mobile=True)
    browsing.artifacts = CREW_ARTIFACTS
    browsing.context.grant_permissions(["geolocation"])
    page = browsing.page

    # Not signed in: the sign-in page first.
    browsing.goto("/crew/")
    assert "/crew/login/" in page.url
    sign_in(browsing, "ali")

    # Exactly this crew's jobs, numbered, on the map and in the list; the urgent one first.
    listed = page.eval_on_selector_all(".job", "els => els.map(e => e.dataset.tracking)")
    assert listed == [mine[1].tracking_number, mine[0].tracking_number]
    assert page.locator(".job-marker").count() == 2
    assert page.locator(".job-number").all_inner_texts() == ["1", "2"]
    content = page.content()
    assert theirs.tracking_number not in content
    assert "Reporter Name" not in content and "reporter@example.sa" not in content
    assert "+966500000009" not in content  # potholes do not allow a callback
    first = page.locator(f'.job[data-tracking="{mine[1].tracking_number}"]')
    assert first.locator("a.nav-geo").get_attribute("href").startswith("geo:26.")
    assert first.locator("button").all_inner_texts() == ["Accept", "Decline"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    map_box = page.locator("#crew-map").bounding_box()
    assert map_box["width"] == PHONE["width"] and map_box["height"] > 200
    browsing.screenshot("crew-jobs-phone-en")

    # Work the urgent job to completion.
    number = mine[1].tracking_number
    report = mine[1]
    lon, lat = report.location.x, report.location.y
    browsing.context.set_geolocation({"latitude": lat, "longitude": lon})
    for to in ("accepted", "en_route", "in_progress"):
        click_action(browsing, number, to)
        page.wait_for_selector(
            f'.job[data-tracking="{number}"][data-state="{to}"]:not(.is-pending)', timeout=15_000
        )
        wait_synced(browsing)
    click_action(browsing, number, "completed")
    form = page.locator(f'.job[data-tracking="{number}"] form.job-form')
    form.locator("button[type=submit]").click()  # without a note: stopped in the page
    assert "Write a note first." in form.inner_text()
    form.locator("textarea").fill("Cover replaced and secured")
    browsing.screenshot("crew-complete-form-phone-en")
    form.locator("button[type=submit]").click()
    wait_synced(browsing, jobs=1)
    assignment = Assignment.objects.get(report=report)
    assert assignment.state == AssignmentState.COMPLETED
    assert assignment.completion_note == "Cover replaced and secured"
    assert assignment.completion_distance_m is not None and assignment.completion_distance_m < 5
    report.refresh_from_db()
    assert report.status == Status.RESOLVED
    browsing.screenshot("crew-after-complete-phone-en")

    # The public track page shows it.
    browsing.goto(f"/track/{number}/")
    assert page.inner_text("#report-status") == "Resolved"
    assert "The field crew completed the work." in page.inner_text("#history")
    assert "Cover replaced" not in page.content()
    browsing.assert_clean()


def test_updates_made_offline_are_queued_and_sent_when_back_online(browse, crews):
    _ali, mine, _theirs = crews
    browsing = browse(viewport=PHONE, mobile=True)
    browsing.artifacts = CREW_ARTIFACTS
    page = browsing.page
    sign_in(browsing, "ali")
    number = mine[0].tracking_number

    browsing.context.set_offline(True)
    click_action(browsing, number, "accepted")
    page.wait_for_function("document.body.dataset.queue === '1'", timeout=10_000)
    item = page.locator(f'.job[data-tracking="{number}"]')
    assert "Waiting to send" in item.inner_text()
    assert "Waiting to send: 1" in page.inner_text("#crew-status")
    assert Assignment.objects.get(report=mine[0]).state == AssignmentState.ASSIGNED
    # A reload while offline would lose nothing either: the queue is in localStorage.
    queued = page.evaluate("JSON.parse(localStorage.getItem('geoOpsCrew:ali:queue'))")
    assert [(a["to"], a["tracking"]) for a in queued] == [("accepted", number)]
    browsing.screenshot("crew-offline-phone-en")

    browsing.context.set_offline(False)
    wait_synced(browsing)
    page.wait_for_selector(
        f'.job[data-tracking="{number}"][data-state="accepted"]:not(.is-pending)'
    )
    assert Assignment.objects.get(report=mine[0]).state == AssignmentState.ACCEPTED
    # While offline the browser logged the failed requests; nothing else may have failed.
    browsing.errors = [e for e in browsing.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    browsing.assert_clean()


def test_refused_updates_are_shown_not_dropped(browse, crews):
    _ali, mine, _theirs = crews
    browsing = browse(viewport=PHONE, mobile=True)
    page = browsing.page
    sign_in(browsing, "ali")
    number = mine[0].tracking_number
    # A supervisor cancels the job meanwhile: the crew's update is refused (409).
    Assignment.objects.filter(report=mine[0]).update(state=AssignmentState.CANCELLED)
    browsing.expected_statuses.add(409)
    click_action(browsing, number, "accepted")
    page.wait_for_selector(".failed-update", timeout=15_000)
    text = page.inner_text("#failed-updates")
    assert number in text and "cancelled cannot become accepted" in text
    assert page.evaluate("document.body.dataset.queue") == "0"
    page.locator(".failed-update button").click()
    assert page.locator(".failed-update").count() == 0
    browsing.assert_clean()


def test_arabic_crew_page_is_right_to_left(browse, crews):
    browsing = browse(viewport=PHONE, mobile=True)
    browsing.artifacts = CREW_ARTIFACTS
    browsing.context.add_cookies(
        [{"name": "django_language", "value": "ar", "url": browsing.base_url}]
    )
    sign_in(browsing, "ali")
    page = browsing.page
    assert page.get_attribute("html", "dir") == "rtl"
    assert "قبول" in page.inner_text(".job-actions")
    assert "غطاء غرفة تفتيش مفقود" in page.inner_text("#job-list")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.screenshot("crew-jobs-phone-ar")
    browsing.assert_clean()


def test_a_user_outside_any_crew_gets_403(browse, crews, make_user):
    make_user("visitor", PASSWORD)
    browsing = browse(viewport=PHONE, mobile=True)
    page = browsing.page
    browsing.goto("/crew/login/")
    page.fill("#id_username", "visitor")
    page.fill("#id_password", PASSWORD)
    browsing.expected_statuses.add(403)
    with page.expect_navigation():
        page.click("#login-submit")
    assert "This page is for field crews" in page.inner_text("h1")
    browsing.assert_clean()
