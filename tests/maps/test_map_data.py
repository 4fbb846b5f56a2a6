"""The public map's data endpoints: points or grid counts, the summary, privacy, outlines."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from geo_ops.reports.models import Category, PublicVisibility, Status
from maps.models import PublicMapCell, PublicMapSummary
from maps.selectors import SUMMARY_CELL_DEG, display_cell_deg
from maps.services import public_map_summary_ensure, public_map_summary_refresh
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE
from tests.maps.conftest import contact_is_absent

pytestmark = pytest.mark.django_db

DATA = "/maps/open-reports.json"
PROVINCE = "47.0,24.0,52.0,29.0"


@pytest.fixture
def client():
    return Client(HTTP_HOST="127.0.0.1")


def get_data(client, bbox=PROVINCE, zoom=9, **params):
    response = client.get(DATA, {"bbox": bbox, "zoom": zoom, **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def seeded(make_report):
    """Open reports in Dammam and Khobar, one closed and one rejected (never on the map)."""
    reports = []
    for i in range(6):
        reports.append(make_report("pothole", DAMMAM_CORNICHE[0] + i * 0.001, DAMMAM_CORNICHE[1]))
    for i in range(3):
        reports.append(
            make_report("overflowing_bins", KHOBAR_CENTRE[0], KHOBAR_CENTRE[1] + i * 0.001)
        )
    reports.append(make_report("food_hygiene", 50.10337, 26.44251, status=Status.IN_PROGRESS))
    make_report("street_light_out", *KHOBAR_CENTRE, status=Status.CLOSED)
    make_report("litter", *KHOBAR_CENTRE, status=Status.REJECTED)
    return reports


@pytest.mark.parametrize(
    "params, field",
    [
        ({"zoom": 9}, "bbox"),
        ({"bbox": "1,2,3", "zoom": 9}, "bbox"),
        ({"bbox": "a,b,c,d", "zoom": 9}, "bbox"),
        ({"bbox": "52,24,47,29", "zoom": 9}, "bbox"),
        ({"bbox": "nan,24,52,29", "zoom": 9}, "bbox"),
        ({"bbox": "47,24,52,95", "zoom": 9}, "bbox"),
        ({"bbox": PROVINCE}, "zoom"),
        ({"bbox": PROVINCE, "zoom": "x"}, "zoom"),
        ({"bbox": PROVINCE, "zoom": 40}, "zoom"),
        ({"bbox": PROVINCE, "zoom": 9, "category": "nope"}, "category"),
        ({"bbox": PROVINCE, "zoom": 9, "category": "pothole"}, "category"),
    ],
)
def test_bad_parameters_get_400_naming_the_field(client, params, field):
    response = client.get(DATA, params)
    assert response.status_code == 400
    assert field in response.json()


def test_points_mode_lists_open_reports_without_personal_data(client, seeded):
    response = client.get(DATA, {"bbox": PROVINCE, "zoom": 9})
    body = response.json()
    assert body["mode"] == "points" and body["total"] == 10
    assert {p["t"] for p in body["points"]} == {r.tracking_number for r in seeded}
    point = next(p for p in body["points"] if p["t"] == seeded[0].tracking_number)
    assert point["c"] == "roads_networks" and point["s"] == "pothole" and point["st"] == "new"
    assert point["d"] == timezone.localdate(seeded[0].created_at).isoformat()
    assert set(point) == {"t", "c", "s", "st", "d", "lon", "lat"}
    assert contact_is_absent(response.content.decode())
    assert "description" not in response.content.decode()


def test_coarse_report_is_shown_at_its_snapped_location(client, seeded):
    body = get_data(client)
    market = next(p for p in body["points"] if p["c"] == "markets_public_health")
    assert (market["lon"], market["lat"]) != pytest.approx((50.10337, 26.44251), abs=1e-6)


def test_hidden_category_is_not_on_the_map(client, seeded):
    Category.objects.filter(code="public_cleanliness").update(
        public_visibility=PublicVisibility.HIDDEN
    )
    body = get_data(client)
    assert body["total"] == 7
    assert all(p["c"] != "public_cleanliness" for p in body["points"])


def test_category_filter(client, seeded):
    body = get_data(client, category="public_cleanliness")
    assert body["total"] == 3 and {p["s"] for p in body["points"]} == {"overflowing_bins"}


def test_bbox_limits_the_points(client, seeded):
    khobar = f"{KHOBAR_CENTRE[0] - 0.01},{KHOBAR_CENTRE[1] - 0.01},"
    khobar += f"{KHOBAR_CENTRE[0] + 0.01},{KHOBAR_CENTRE[1] + 0.01}"
    body = get_data(client, bbox=khobar, zoom=15)
    assert body["total"] == 3


def test_many_reports_become_grid_counts_from_the_summary(client, seeded, settings):
    settings.GEO_OPS_PUBLIC_MAP_MAX_POINTS = 4
    body = get_data(client, zoom=9)
    assert body["mode"] == "grid" and body["total"] == 10
    assert body["cell_deg"] == display_cell_deg(9)
    assert sum(cell["n"] for cell in body["cells"]) == 10
    by_category = {}
    for cell in body["cells"]:
        assert set(cell) == {"lon", "lat", "n", "by"}
        assert sum(cell["by"].values()) == cell["n"]
        for code, n in cell["by"].items():
            by_category[code] = by_category.get(code, 0) + n
    assert by_category == {
        "roads_networks": 6,
        "public_cleanliness": 3,
        "markets_public_health": 1,
    }
    # The summary was built on first use and holds exactly the open, public reports.
    summary = PublicMapSummary.objects.get()
    assert summary.reports == 10
    assert PublicMapCell.objects.count() == summary.cells


def test_reports_added_after_the_summary_show_at_once(client, seeded, settings, make_report):
    settings.GEO_OPS_PUBLIC_MAP_MAX_POINTS = 4
    public_map_summary_refresh()
    make_report("pothole", *KHOBAR_CENTRE)
    assert get_data(client, zoom=9)["total"] == 11
    assert PublicMapSummary.objects.get().reports == 10  # not rebuilt: counted live


def test_fine_zoom_counts_live(client, seeded, settings):
    settings.GEO_OPS_PUBLIC_MAP_MAX_POINTS = 2
    bbox = f"{DAMMAM_CORNICHE[0] - 0.01},{DAMMAM_CORNICHE[1] - 0.01},"
    bbox += f"{DAMMAM_CORNICHE[0] + 0.02},{DAMMAM_CORNICHE[1] + 0.01}"
    body = get_data(client, bbox=bbox, zoom=17)
    assert body["mode"] == "grid"
    assert display_cell_deg(17) == SUMMARY_CELL_DEG  # finer than the summary: counted live
    assert body["total"] == 7  # six potholes and the coarsened market report


def test_display_cells_nest_summary_cells():
    for zoom in range(0, 20):
        ratio = display_cell_deg(zoom) / SUMMARY_CELL_DEG
        factor = round(ratio)
        assert factor >= 1 and ratio == pytest.approx(factor)
        assert factor & (factor - 1) == 0  # a power of two


def test_stale_summary_is_served_while_a_thread_rebuilds_it(seeded, settings, monkeypatch):
    started = []

    class FakeThread:
        def __init__(self, target, **kwargs):
            self.target = target

        def start(self):
            started.append(self.target)

    monkeypatch.setattr("maps.services.threading.Thread", FakeThread)
    first = public_map_summary_refresh()
    settings.GEO_OPS_PUBLIC_MAP_SUMMARY_TTL = 3600
    assert public_map_summary_ensure().pk == first.pk and not started  # fresh: reused
    settings.GEO_OPS_PUBLIC_MAP_SUMMARY_TTL = -1
    assert public_map_summary_ensure().pk == first.pk  # stale: still served at once
    assert len(started) == 1
    # Another request meanwhile does not start a second rebuild.
    assert public_map_summary_ensure().pk == first.pk and len(started) == 1
    import maps.services

    maps.services._background_refresh.release()


def test_refresh_command(seeded, capsys):
    from django.core.management import call_command

    call_command("refresh_public_map")
    assert "10 open reports" in capsys.readouterr().out


def test_branch_outlines_are_simplified_geojson(client):
    response = client.get("/maps/branches.geojson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    assert len(response.content) < 200_000  # the full boundaries are about 1.3 MB
    body = json.loads(response.content)
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 10
    names = {f["properties"]["code"]: f["properties"]["name_ar"] for f in body["features"]}
    assert names["dammam"] == "الدمام"
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in body["features"])
