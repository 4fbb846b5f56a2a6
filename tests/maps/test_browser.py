"""The public pages in a real headless Chromium (the distribution's package, via Playwright).

Every test records each request the browser makes: only the app (the live server) and the
configured tile server may be asked for anything. The tile server is a made-up host,
`tiles.test`, set as GEO_OPS_TILE_URL; the browser's requests to it are answered with a blank
tile by Playwright, and requests to any other host are refused and reported. JavaScript errors
and console errors fail the test. Screenshots of every page go to test-artifacts/maps/.
"""

import pytest

from geo_ops.reports.models import Report, Status

# The browser helpers (tests/browser.py) and fixtures (chromium, site, browse in
# tests/conftest.py) are shared by every app's browser tests.
from tests.browser import PHONE
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE
from tests.maps.conftest import contact_is_absent, jpeg_with_gps, place_report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# An empty spot in Khobar, away from the seeded reports: where the test reports a problem.
NEW_REPORT_AT = (50.2000, 26.2900)


def seed_reports() -> list[Report]:
    """Twelve open reports (eight close together in Dammam, four in Khobar) and two finished."""
    subcategories = ["pothole", "overflowing_bins", "street_light_out", "mosquitoes"]
    reports = []
    for i in range(8):
        lon, lat = DAMMAM_CORNICHE[0] + (i % 4) * 0.002, DAMMAM_CORNICHE[1] + (i // 4) * 0.002
        reports.append(place_report(subcategories[i % 4], lon, lat))
    for i, subcategory in enumerate(["damaged_playground", "food_hygiene", "litter", "pothole"]):
        lon, lat = KHOBAR_CENTRE[0] + i * 0.003, KHOBAR_CENTRE[1]
        status = Status.IN_PROGRESS if i % 2 else Status.ASSIGNED
        reports.append(place_report(subcategory, lon, lat, status=status))
    place_report("pothole", *KHOBAR_CENTRE, status=Status.CLOSED)
    place_report("litter", *DAMMAM_CORNICHE, status=Status.RESOLVED)
    return reports


def test_map_shows_seeded_reports_as_clusters_and_markers(browse):
    seeded = seed_reports()
    browsing = browse()
    browsing.goto("/")
    browsing.wait_for_map()
    page = browsing.page
    assert page.get_attribute("body", "data-map-mode") == "points"
    assert page.get_attribute("body", "data-map-total") == "12"
    clustered, single = browsing.shown_counts()
    assert clustered + single == 12 and clustered > 0  # at zoom 9 they are clustered
    assert "12" in page.inner_text("#map-status")
    assert page.locator("#map-legend").is_visible()
    assert "Markets and public health" in page.inner_text("#map-legend")
    # Branch outlines are drawn (SVG paths in the outline pane).
    page.wait_for_selector(".leaflet-outlines-pane path", state="attached")
    assert page.locator(".leaflet-outlines-pane path").count() >= 10
    browsing.screenshot("map-desktop-en")

    # Zoomed in, single markers with a popup: category, status, date, tracking number.
    browsing.set_view(DAMMAM_CORNICHE[0] + 0.003, DAMMAM_CORNICHE[1] + 0.001, 17)
    assert browsing.shown_counts()[1] >= 4
    page.locator(".report-marker").first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert "Status" in text and "Reported on" in text and "Tracking number" in text
    number = page.get_attribute(".report-popup", "data-tracking")
    assert number in {r.tracking_number for r in seeded} and number in text
    assert contact_is_absent(page.content())
    page.wait_for_timeout(300)  # the popup's fade-in
    browsing.screenshot("map-popup-en")

    # The category filter: only that category is loaded.
    browsing.set_view(50.15, 26.36, 10)
    before = browsing.map_loads()
    page.select_option("#category-filter", "public_cleanliness")
    browsing.wait_for_map(before)
    assert page.get_attribute("body", "data-map-total") == "3"  # two bins, one litter
    browsing.assert_clean()


def test_many_reports_show_as_grid_counts(browse, settings):
    settings.GEO_OPS_PUBLIC_MAP_MAX_POINTS = 5
    seed_reports()
    browsing = browse()
    browsing.goto("/")
    browsing.wait_for_map()
    assert browsing.page.get_attribute("body", "data-map-mode") == "grid"
    clustered, single = browsing.shown_counts()
    assert clustered == 12 and single == 0
    browsing.screenshot("map-grid-en")
    browsing.assert_clean()


def test_report_a_problem_gets_a_tracking_number_and_shows_on_map_and_track_page(browse, tmp_path):
    seed_reports()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_with_gps((320, 240)))
    browsing = browse()
    page = browsing.page
    browsing.goto("/")
    browsing.wait_for_map()
    page.click("#report-button")
    assert page.locator("#report-panel").is_visible()
    # Sending without a location is stopped in the page, with the reason beside the map step.
    page.click("#report-submit")
    assert "Click the map where the problem is." in page.inner_text("#field-location")
    assert page.url.rstrip("/") == browsing.base_url

    browsing.set_view(*NEW_REPORT_AT, 16)
    browsing.click_map_at(*NEW_REPORT_AT)
    assert page.locator(".chosen-pin").count() == 1
    lat = float(page.input_value('input[name="lat"]'))
    lon = float(page.input_value('input[name="lon"]'))
    assert (lon, lat) == pytest.approx(NEW_REPORT_AT, abs=1e-4)
    page.select_option("#id_category", "roads_networks")
    options = page.eval_on_selector_all("#id_subcategory option", "els => els.map(e => e.value)")
    assert options == [
        "",
        "pothole",
        "missing_manhole_cover",
        "damaged_sidewalk",
        "stormwater_drain",
        "open_excavation",
    ]
    page.select_option("#id_subcategory", "missing_manhole_cover")
    page.fill("#id_description", "Open manhole next to the school gate")
    page.set_input_files("#id_photo", str(photo))
    browsing.screenshot("report-form-en")

    with page.expect_navigation():
        page.click("#report-submit")
    report = Report.objects.get(description="Open manhole next to the school gate")
    assert (report.channel, report.subcategory.code, report.branch.code) == (
        "web",
        "missing_manhole_cover",
        "khobar",
    )
    assert report.media_url and "/media/report-photos/" in report.media_url
    assert page.url == f"{browsing.base_url}/track/{report.tracking_number}/"
    assert report.tracking_number in page.inner_text(".messages")
    assert page.inner_text("#track-title") == report.tracking_number
    assert page.inner_text("#report-status") == "New"
    assert "Received" in page.inner_text("#history")
    assert contact_is_absent(page.content())
    browsing.screenshot("track-en")

    # "Show on the map": the map opens at the report, with its popup.
    page.click("#show-on-map")
    page.wait_for_selector(f'.report-popup[data-tracking="{report.tracking_number}"]')
    popup = page.inner_text(".leaflet-popup-content")
    assert "Missing manhole cover" in popup and "New" in popup
    page.wait_for_timeout(300)  # the popup's fade-in
    browsing.screenshot("map-new-report-en")
    browsing.assert_clean()


def test_server_side_error_keeps_what_was_typed(browse):
    browsing = browse()
    page = browsing.page
    browsing.goto("/report/")
    browsing.wait_for_map()
    # Far out in the Gulf: outside every branch municipality.
    browsing.set_view(50.75, 26.6, 12)
    browsing.click_map_at(50.75, 26.6)
    page.select_option("#id_category", "public_cleanliness")
    page.select_option("#id_subcategory", "litter")
    page.fill("#id_description", "Rubbish floating near the pier")
    browsing.expected_statuses.add(400)
    with page.expect_navigation():
        page.click("#report-submit")
    assert "outside the service area" in page.inner_text("#field-location")
    assert page.input_value("#id_description") == "Rubbish floating near the pier"
    assert page.input_value("#id_category") == "public_cleanliness"
    assert page.input_value("#id_subcategory") == "litter"
    assert page.locator(".chosen-pin").count() == 1  # the pin is where it was
    assert Report.objects.count() == 0
    browsing.screenshot("report-error-en")
    browsing.assert_clean()


def test_arabic_is_right_to_left_with_arabic_names(browse):
    seeded = seed_reports()
    browsing = browse()
    page = browsing.page
    browsing.goto("/")
    browsing.wait_for_map()
    with page.expect_navigation():
        page.click("#language-ar")
    browsing.wait_for_map()
    assert page.get_attribute("html", "lang") == "ar"
    assert page.get_attribute("html", "dir") == "rtl"
    options = page.eval_on_selector_all("#category-filter option", "els => els.map(e => e.text)")
    assert "الأسواق والصحة العامة" in options and "النظافة العامة" in options
    assert "الأسواق والصحة العامة" in page.inner_text("#map-legend")
    assert "الإبلاغ عن مشكلة" in page.inner_text("#report-button")
    browsing.screenshot("map-desktop-ar")

    browsing.set_view(DAMMAM_CORNICHE[0] + 0.003, DAMMAM_CORNICHE[1] + 0.001, 17)
    page.locator(".report-marker").first.click()
    page.locator(".leaflet-popup-content").wait_for()
    popup = page.inner_text(".leaflet-popup-content")
    assert "رقم البلاغ" in popup and "الحالة" in popup
    page.wait_for_timeout(300)  # the popup's fade-in
    browsing.screenshot("map-popup-ar")

    browsing.goto(f"/track/{seeded[0].tracking_number}/")
    assert page.get_attribute("html", "dir") == "rtl"
    assert "حفرة في الطريق" in page.inner_text("main")
    browsing.screenshot("track-ar")
    browsing.assert_clean()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_phone_layout(browse, language):
    seed_reports()
    browsing = browse(viewport=PHONE, mobile=True)
    page = browsing.page
    if language == "ar":
        browsing.context.add_cookies(
            [{"name": "django_language", "value": "ar", "url": browsing.base_url}]
        )
    browsing.goto("/")
    browsing.wait_for_map()
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"page is {width}px wide: it scrolls sideways"
    box = page.locator(".folium-map").bounding_box()
    assert box["height"] > 450 and box["width"] == PHONE["width"]
    assert page.locator("#report-button").is_visible()
    browsing.screenshot(f"map-phone-{language}")

    page.click("#report-button")
    panel = page.locator("#report-panel").bounding_box()
    assert panel["y"] > 250  # a bottom sheet: the map above it stays usable
    browsing.set_view(*NEW_REPORT_AT, 15)
    page.evaluate(f"GeoOpsPublicMap.map.panBy([0, {int(panel['height'] / 2)}], {{animate: false}})")
    browsing.click_map_at(*NEW_REPORT_AT)
    assert page.locator(".chosen-pin").count() == 1
    browsing.screenshot(f"report-form-phone-{language}")

    browsing.goto("/track/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    browsing.screenshot(f"track-lookup-phone-{language}")
    browsing.assert_clean()


def test_unknown_tracking_number_page(browse):
    browsing = browse()
    browsing.goto("/track/EP99999999/", status=404)
    assert "Report not found" in browsing.page.inner_text("h1")
    browsing.screenshot("track-not-found-en")
    browsing.assert_clean()
