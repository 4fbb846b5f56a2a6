"""The hotspot layers and the planner API on a scaled-down demo year (loaded once for the module,
rolled back at its end): the truth check, permissions, filters, exports and KPIs."""

import csv
import io
import json

import geopandas
import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from geo_ops.demo.truth import truth_check
from geo_ops.hotspots.clusters import hotspot_clusters_compute
from geo_ops.hotspots.filters import filters_from_params
from geo_ops.reports.models import Report, Status
from tests.hotspots.hotspot_data import load_demo_year, make_planner

YEAR = {"from": "2025-01-01", "to": "2025-12-31"}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """The quarter demo year in one transaction around the module's tests, rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        truth = load_demo_year(tmp_path_factory.mktemp("demo"))
        yield truth
        transaction.set_rollback(True)


@pytest.fixture
def planner_client(demo, db):
    client = Client()
    client.force_login(make_planner())
    return client


def test_truth_check_recovers_the_planted_hotspots(demo, db):
    run = hotspot_clusters_compute(filters=filters_from_params(YEAR), trigger="test")
    result = truth_check(run=run, truth=demo)
    print("\n".join(result.lines()))
    assert result.planted == 18
    assert result.found_share >= 0.9, result.missed
    assert result.spurious_share <= 0.1, result.spurious


def test_anonymous_and_non_planners_are_refused(demo, db):
    anonymous = Client()
    for url in (
        "/api/v1/hotspots/clusters/",
        "/api/v1/hotspots/hexagons/",
        "/api/v1/stats/kpis/",
        "/api/v1/hotspots/heatmap.png?bbox=50,26,50.2,26.2",
    ):
        assert anonymous.get(url).status_code in (401, 403), url
    assert anonymous.get("/planner/")["Location"].startswith("/planner/login/")
    clerk = Client()
    clerk.force_login(User.objects.create_user("clerk", password="x-pass-12345"))
    assert clerk.get("/api/v1/hotspots/clusters/").status_code == 403
    assert clerk.get("/planner/").status_code == 403
    assert clerk.post("/api/v1/hotspots/clusters/1/preventive-work/").status_code == 403


def test_clusters_and_hexagons_as_geojson_with_filters(planner_client):
    answer = planner_client.get("/api/v1/hotspots/clusters/", YEAR)
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) >= 18
    feature = body["features"][0]
    assert feature["geometry"]["type"] == "Polygon"
    props = feature["properties"]
    for key in ("category", "report_count", "first_report_at", "dominant_subcategory", "branch",
                "score", "trend", "centroid_lon"):  # fmt: skip
        assert key in props
    assert body["run"]["params"]["dbscan"]["parks_facilities"]["eps_m"] == 250
    # min_count and category filters.
    big = planner_client.get("/api/v1/hotspots/clusters/", {**YEAR, "min_count": 15}).json()
    assert all(f["properties"]["report_count"] >= 15 for f in big["features"])
    parks = planner_client.get(
        "/api/v1/hotspots/clusters/", {**YEAR, "category": "parks_facilities"}
    ).json()
    assert {f["properties"]["category"] for f in parks["features"]} == {"parks_facilities"}

    hexagons = planner_client.get(
        "/api/v1/hotspots/hexagons/", {**YEAR, "resolution": 8, "bins": "2,3"}
    ).json()
    assert hexagons["features"] and all(
        f["properties"]["bin"] in (2, 3) for f in hexagons["features"]
    )
    assert all(f["properties"]["trend"] for f in hexagons["features"])
    ring = hexagons["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 7 and ring[0] == ring[-1] and 45 < ring[0][0] < 56
    branch = planner_client.get(
        "/api/v1/hotspots/hexagons/", {**YEAR, "branch": "khobar", "min_count": 1}
    ).json()
    assert (
        branch["run"]["reports"]
        == Report.objects.filter(branch__code="khobar", created_at__year=2025)
        .exclude(status__in=[Status.REJECTED, Status.DUPLICATE])
        .count()
    )


def test_bad_filters_are_400_with_the_field(planner_client):
    for params, field in [
        ({"category": "nope"}, "category"),
        ({"from": "2025-05-01", "to": "2025-04-01"}, "to"),
        ({"bins": "7"}, "bins"),
        ({"format": "xls"}, "format"),
    ]:
        answer = planner_client.get("/api/v1/hotspots/hexagons/", params)
        assert answer.status_code == 400 and field in answer.json(), params
    answer = planner_client.get("/api/v1/hotspots/heatmap.png", {"bbox": "1,2,3"})
    assert answer.status_code == 400 and "bbox" in answer.json()


def test_exports_are_valid_files(planner_client, tmp_path):
    answer = planner_client.get("/api/v1/hotspots/clusters/", {**YEAR, "format": "csv"})
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="hotspot-clusters_2025-01-01_2025-12-31.csv"' in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) >= 18 and rows[0]["geometry_wkt"].startswith("POLYGON")

    answer = planner_client.get("/api/v1/hotspots/hexagons/", {**YEAR, "format": "geojson"})
    assert answer["Content-Type"] == "application/geo+json"
    assert json.loads(answer.content)["features"]

    answer = planner_client.get("/api/v1/hotspots/clusters/", {**YEAR, "format": "gpkg"})
    path = tmp_path / "clusters.gpkg"
    path.write_bytes(answer.content)
    frame = geopandas.read_file(path)
    assert len(frame) >= 18 and frame.crs.to_epsg() == 4326
    assert set(frame.geom_type) == {"Polygon"}

    answer = planner_client.get("/api/v1/stats/kpis/", {**YEAR, "format": "gpkg"})
    path = tmp_path / "kpis.gpkg"
    path.write_bytes(answer.content)
    frame = geopandas.read_file(path)
    assert {"received", "closure_rate", "overdue"} <= set(frame.columns)


def test_kpis_per_branch_and_category(planner_client):
    body = planner_client.get("/api/v1/stats/kpis/", YEAR).json()
    rows = body["rows"]
    dammam_health = next(
        r for r in rows if r["branch"] == "dammam" and r["category"] == "markets_public_health"
    )
    reports = Report.objects.filter(
        branch__code="dammam", category__code="markets_public_health", created_at__year=2025
    )
    assert dammam_health["received"] == reports.count()
    assert dammam_health["closed"] == reports.filter(status=Status.CLOSED).count()
    assert (
        dammam_health["open_backlog"]
        == reports.filter(status__in=[Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS]).count()
    )
    assert 0.8 < dammam_health["closure_rate"] <= 1
    assert dammam_health["median_resolution_hours"] > 0
    assert 0 <= dammam_health["sla_met_rate"] <= 1
    totals = [r for r in rows if r["category"] is None]
    assert (
        sum(r["received"] for r in totals) == Report.objects.filter(created_at__year=2025).count()
    )


def test_heatmap_is_a_png_of_the_view(planner_client):
    answer = planner_client.get(
        "/api/v1/hotspots/heatmap.png",
        {**YEAR, "bbox": "49.9,26.2,50.3,26.6", "width": 400, "height": 300},
    )
    assert answer.status_code == 200 and answer["Content-Type"] == "image/png"
    assert answer.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert int(answer["X-Heatmap-Reports"]) > 1000
    assert float(answer["X-Heatmap-Peak-Per-Km2"]) > 0


def test_check_demo_hotspots_command(demo, db, tmp_path):
    from django.core.management import call_command

    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps(demo))
    out = io.StringIO()
    call_command(
        "check_demo_hotspots", "--from", "2025-01-01", "--to", "2025-12-31", "--resolution", "7",
        "--truth", str(truth), stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "clusters: run" in text and "resolution 7" in text
    assert "planted hotspots found: 18/18" in text or "planted hotspots found: 17/18" in text
