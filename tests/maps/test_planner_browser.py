"""The planner dashboard in a real headless Chromium (the distribution's package, Playwright),
on a quarter demo year: the layers render, a filter change updates the map, an export downloads
a valid file, preventive work goes to dispatch, Arabic is right-to-left. Only the app and the
test tile server may be asked for anything; console errors fail the test (see test_browser.py).
"""

import geopandas
import pytest

from fieldteams.models import PreventiveWork
from geo_ops.reports.models import Report
from tests.browser import DESKTOP, Browsing  # the fixtures are in tests/conftest.py
from tests.hotspots.hotspot_data import load_demo_year, make_planner

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def loads(browsing: Browsing) -> int:
    return int(browsing.page.evaluate("Number(document.body.dataset.plannerLoads || 0)"))


def wait_for_layers(browsing: Browsing, after: int = 0) -> None:
    try:
        browsing.page.wait_for_function(
            f"Number(document.body.dataset.plannerLoads || 0) > {after}"
            " && document.body.dataset.plannerBusy === '0'",
            timeout=30_000,
        )
    except Exception as error:
        browsing.screenshot("planner-failed")
        status = browsing.page.inner_text("#planner-status")
        raise AssertionError(f"layers not loaded ({status}): {browsing.errors}") from error


def attr(browsing: Browsing, name: str) -> int:
    return int(browsing.page.get_attribute("body", f"data-{name}") or 0)


def test_planner_dashboard_layers_filters_exports_and_preventive_work(browse, tmp_path):  # noqa: F811
    load_demo_year(tmp_path)
    make_planner("planner")
    browsing = browse(viewport=DESKTOP)
    page = browsing.page

    # Signing in through the page, then straight to the dashboard.
    browsing.goto("/planner/login/?next=/planner/")
    page.fill("#id_username", "planner")
    page.fill("#id_password", "planner-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/planner/")
    wait_for_layers(browsing)
    page.wait_for_function("document.body.dataset.heatmapLoads >= 1", timeout=15_000)
    page.wait_for_function("document.body.dataset.branchesDrawn === '1'", timeout=15_000)

    assert attr(browsing, "clusters") >= 18
    assert attr(browsing, "hexagons") > 100 and attr(browsing, "hot-hexagons") > 0
    assert attr(browsing, "kpi-rows") >= 10
    assert page.locator(".leaflet-hulls-pane path.cluster-hull").count() >= 18
    assert page.locator(".leaflet-hexagons-pane path.hexagon").count() > 100
    assert page.locator(".leaflet-outlines-pane path").count() >= 10
    assert page.locator("img.heatmap-layer").get_attribute("src").startswith("/api/v1/")
    overlays = page.inner_text(".leaflet-control-layers-overlays")
    for name in ("Heatmap", "Clusters", "Gi* hexagons", "Branch boundaries"):
        assert name in overlays
    assert "clusters" in page.inner_text("#planner-status")
    browsing.screenshot("planner-en")

    # A cluster's popup: its trend, and preventive work through dispatch.
    page.evaluate(
        "GeoOpsPlanner.map.eachLayer(l => { if (l.feature && l.feature.properties.score"
        " !== undefined && !window.__opened) { window.__opened = true; l.openPopup(); } })"
    )
    popup = page.locator(".cluster-popup")
    popup.wait_for()
    assert "Trend" in popup.inner_text()
    page.click(".preventive-button")
    page.wait_for_function("document.body.dataset.preventiveCreated", timeout=15_000)
    number = page.get_attribute("body", "data-preventive-created")
    job = Report.objects.get(tracking_number=number)
    assert job.channel == "staff" and PreventiveWork.objects.get().last_report == job
    assert number in page.inner_text(".preventive-result")
    browsing.screenshot("planner-preventive-en")

    # A filter change updates the map without reloading the page.
    before = loads(browsing)
    page.select_option("#filter-category", "parks_facilities")
    wait_for_layers(browsing, before)
    assert 3 <= attr(browsing, "clusters") < 18
    assert page.locator(".leaflet-hulls-pane path.cluster-hull").count() == attr(
        browsing, "clusters"
    )

    # An export downloads a valid GeoPackage of what the map shows.
    with page.expect_download() as download:
        page.click("#download-clusters-gpkg")
    path = tmp_path / "clusters.gpkg"
    download.value.save_as(path)
    frame = geopandas.read_file(path)
    assert len(frame) == attr(browsing, "clusters")
    assert set(frame["category"]) == {"parks_facilities"}
    browsing.assert_clean()


def test_planner_dashboard_in_arabic_is_right_to_left(browse, tmp_path):  # noqa: F811
    load_demo_year(tmp_path)
    make_planner("planner")
    browsing = browse(viewport=DESKTOP)
    page = browsing.page
    browsing.context.add_cookies(
        [{"name": "django_language", "value": "ar", "url": browsing.base_url}]
    )
    browsing.goto("/planner/login/?next=/planner/")
    assert page.get_attribute("html", "dir") == "rtl"
    page.fill("#id_username", "planner")
    page.fill("#id_password", "planner-pass-1")
    page.click("#login-submit")
    page.wait_for_url("**/planner/")
    wait_for_layers(browsing)
    assert page.get_attribute("html", "dir") == "rtl"
    assert "لوحة المخطط" in page.inner_text(".brand-name")
    assert "الخريطة الحرارية" in page.inner_text(".leaflet-control-layers-overlays")
    browsing.screenshot("planner-ar")
    browsing.assert_clean()
