"""Hotspot analysis on small explicit data: DBSCAN per category in PostGIS, Gi* on H3 cells,
Mann-Kendall trends and their labels."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.contrib.gis.geos import Point

from geo_ops.hotspots.clusters import hotspot_clusters_compute, hotspot_clusters_current
from geo_ops.hotspots.filters import FilterError, filters_from_params
from geo_ops.hotspots.hexagons import gi_star, hotspot_hexagons_compute
from geo_ops.hotspots.trends import mann_kendall, trend_labels
from geo_ops.reports.models import Category, Report, Status
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE

RIYADH = ZoneInfo("Asia/Riyadh")
METRE = 1 / 111_320  # degrees of latitude per metre (close enough over a few hundred metres)


def put(subcategory: str, lon: float, lat: float, *, day: int = 10, status=Status.CLOSED):
    """A report stored directly (the analysis reads the table; intake is tested elsewhere)."""
    sub = Category.objects.get(code=subcategory)
    created = datetime(2025, 1, 1, 9, tzinfo=RIYADH) + timedelta(days=day)
    return Report.objects.create(
        category=sub.parent,
        subcategory=sub,
        location=Point(lon, lat, srid=4326),
        channel="app",
        status=status,
        created_at=created,
        updated_at=created,
        closed_at=created + timedelta(hours=5) if status == Status.CLOSED else None,
        branch_id=None,
    )


def year_filters(**extra):
    return filters_from_params({"from": "2025-01-01", "to": "2025-12-31", **extra})


@pytest.fixture
def joined(db):
    """Join the stored reports to their branch in one statement (as the bulk import does)."""
    from django.db import connection

    def join():
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE reports_report r SET branch_id = p.branch_id
                   FROM layers_branchmunicipalitypiece p
                   WHERE r.branch_id IS NULL AND ST_Intersects(p.geom, r.location)"""
            )

    return join


def test_dbscan_clusters_each_category_apart_with_its_own_eps(joined, settings):
    settings.GEO_OPS_HOTSPOT_DBSCAN = {
        "default": {"eps_m": 60, "min_points": 4, "min_share": 0},
        "roads_networks": {"eps_m": 250, "min_points": 4, "min_share": 0},
    }
    lon, lat = DAMMAM_CORNICHE
    # Six potholes 100 m apart in a row: one cluster with eps 250 m (each has 2-4 neighbours).
    for i in range(6):
        put("pothole", lon + i * 100 * METRE, lat, day=10 * i)
    # Five litter reports within 30 m of each other, right on top of the potholes: a cluster of
    # their own category only (partitioned), with the dominant subcategory.
    for i in range(5):
        put("litter", lon + i * 10 * METRE, lat + 10 * METRE, day=50 + i, status=Status.NEW)
    # Six street lights 100 m apart, like the potholes: no cluster with their eps of 60 m, so
    # each partition used its own eps.
    for i in range(6):
        put("street_light_out", KHOBAR_CENTRE[0] + i * 100 * METRE, KHOBAR_CENTRE[1])
    joined()

    run = hotspot_clusters_compute(filters=year_filters(), trigger="test")
    clusters = {c.category.code: c for c in run.clusters.select_related("category")}
    assert set(clusters) == {"roads_networks", "public_cleanliness"}
    roads, litter = clusters["roads_networks"], clusters["public_cleanliness"]
    assert roads.report_count == 6 and roads.eps_m == 250 and roads.min_points == 4
    assert litter.report_count == 5 and litter.open_count == 5 and litter.eps_m == 60
    assert litter.dominant_subcategory.code == "litter"
    assert roads.branch.code == litter.branch.code == "dammam"
    # Centroid in the middle of the row; the hull of collinear points is buffered into an area.
    assert roads.centroid.x == pytest.approx(lon + 250 * METRE, abs=2 * METRE)
    assert roads.hull.geom_type == "Polygon" and roads.area_m2 > 0
    assert roads.first_report_at == datetime(2025, 1, 1, 9, tzinfo=RIYADH)
    assert roads.last_report_at == datetime(2025, 2, 20, 9, tzinfo=RIYADH)
    assert roads.score == pytest.approx(6 / (365 / 30), abs=0.01)
    assert len(roads.weekly_counts) == 53 and sum(roads.weekly_counts) == 6
    assert run.params["dbscan"]["roads_networks"]["reports"] == 6

    # The category filter clusters that category alone; an unchanged selection reuses the run.
    only = hotspot_clusters_compute(filters=year_filters(category="roads_networks"))
    assert [c.category.code for c in only.clusters.all()] == ["roads_networks"]
    assert hotspot_clusters_current(filters=year_filters()).pk == run.pk
    put("pothole", lon, lat + 500 * METRE, day=200)  # new data: a new run
    assert hotspot_clusters_current(filters=year_filters()).pk != run.pk


def test_min_points_follow_the_category_volume(joined, settings):
    settings.GEO_OPS_HOTSPOT_DBSCAN = {"default": {"eps_m": 50, "min_points": 3, "min_share": 0.5}}
    lon, lat = KHOBAR_CENTRE
    for i in range(4):  # four close together of eight: under half of the category
        put("litter", lon + i * 5 * METRE, lat)
    for i in range(4):
        put("litter", lon + 0.05 + i * 0.01, lat)
    joined()
    run = hotspot_clusters_compute(filters=year_filters())
    assert run.params["dbscan"]["public_cleanliness"]["min_points"] == 4
    assert run.clusters.count() == 1
    settings.GEO_OPS_HOTSPOT_DBSCAN = {"default": {"eps_m": 50, "min_points": 3, "min_share": 0.9}}
    assert hotspot_clusters_compute(filters=year_filters()).clusters.count() == 0


def test_filters_reject_bad_input_with_the_field(db):
    for params, field in [
        ({"category": "nope"}, "category"),
        ({"category": "pothole"}, "category"),  # a subcategory, not a top-level one
        ({"branch": "atlantis"}, "branch"),
        ({"from": "2025-02-30", "to": "2025-03-01"}, "from"),
        ({"from": "2025-03-01", "to": "2025-02-01"}, "to"),
        ({"from": "2020-01-01", "to": "2025-02-01"}, "from"),
        ({"bins": "4"}, "bins"),
        ({"bins": "x"}, "bins"),
        ({"resolution": "6"}, "resolution"),
        ({"min_count": "-1"}, "min_count"),
        ({"fdr": "maybe"}, "fdr"),
    ]:
        with pytest.raises(FilterError) as error:
            filters_from_params(params)
        assert error.value.field == field, params
    filters = filters_from_params({"from": "2025-03-01", "to": "2025-03-31", "bins": "3,2"})
    assert filters.date_from == datetime(2025, 3, 1, tzinfo=RIYADH)
    assert filters.date_to == datetime(2025, 4, 1, tzinfo=RIYADH)
    assert filters.bins == (2, 3)


def test_gi_star_finds_a_dense_blob_and_is_reproducible():
    rng = np.random.default_rng(1)
    # A uniform scatter over ~20 x 20 km with one blob of 150 reports in a few hundred metres.
    lon = np.concatenate([50.0 + rng.uniform(0, 0.2, 2000), 50.1 + rng.normal(0, 0.002, 150)])
    lat = np.concatenate([26.3 + rng.uniform(0, 0.18, 2000), 26.4 + rng.normal(0, 0.002, 150)])
    first = gi_star(lon=lon, lat=lat, resolution=8, permutations=199, seed=7)
    again = gi_star(lon=lon, lat=lat, resolution=8, permutations=199, seed=7)
    np.testing.assert_array_equal(first.p, again.p)
    blob = first.cell_of_point[-150:]
    assert (first.bins[blob] == 3).mean() > 0.5  # the blob's cells: hot at 99 %
    assert first.z[blob].mean() > 3
    assert (first.bins >= -3).all() and (first.bins <= 3).all()
    hot_share = (first.bins > 0).mean()
    assert hot_share < 0.1  # the uniform scatter is mostly not significant
    # FDR only raises the bar.
    corrected = gi_star(lon=lon, lat=lat, resolution=8, permutations=199, seed=7, fdr=True)
    assert (np.abs(corrected.bins) <= np.abs(first.bins)).all()
    # Empty input: no cells, no error.
    empty = gi_star(lon=np.zeros(0), lat=np.zeros(0), resolution=8, permutations=99, seed=1)
    assert len(empty.cells) == 0


def test_hexagon_run_stores_cells_with_bins_and_trends(joined, settings):
    settings.GEO_OPS_HOTSPOT_PERMUTATIONS = 199
    lon, lat = DAMMAM_CORNICHE
    rng = np.random.default_rng(3)
    for i in range(80):  # a hot area of a few cells (Gi* looks at a cell and its neighbours)
        put("litter", lon + rng.normal(0, 400) * METRE, lat + rng.normal(0, 400) * METRE, day=i * 4)
    for i in range(60):
        put("pothole", 49.95 + rng.uniform(0, 0.3), 26.3 + rng.uniform(0, 0.2), day=i * 6)
    joined()
    run = hotspot_hexagons_compute(filters=year_filters(resolution="8"))
    assert run.results == run.hexagons.count() > 60
    assert sum(run.hexagons.values_list("report_count", flat=True)) == 140
    hottest = run.hexagons.order_by("-report_count").first()
    assert hottest.bin == 3 and hottest.report_count >= 10 and hottest.p_value <= 0.01
    assert hottest.trend in {"new", "intensifying", "persistent", "diminishing", "sporadic"}
    assert len(hottest.weekly_counts) == 53
    assert not run.hexagons.filter(bin__lte=0).exclude(trend="").exists()


def test_mann_kendall_and_trend_labels(settings):
    weeks = 52
    rising = np.repeat(np.arange(13), 4)[:weeks]
    falling = rising[::-1]
    flat = np.ones(weeks, dtype=int)
    late = np.zeros(weeks, dtype=int)
    late[-8:] = 3
    sporadic = np.zeros(weeks, dtype=int)
    sporadic[[3, 20, 40]] = 1
    s, tau, p = mann_kendall(np.vstack([rising, falling, flat]))
    assert s[0] > 0 and s[1] < 0 and s[2] == 0
    assert p[0] < 0.001 and p[1] < 0.001 and p[2] == 1.0
    assert tau[0] == pytest.approx(-tau[1])
    # Against a direct count of the statistic for a short series with ties.
    x = np.array([1, 3, 2, 2, 5, 4, 4, 6])
    direct = sum(np.sign(x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x)))
    assert mann_kendall(x)[0][0] == direct
    labels, _, _ = trend_labels(np.vstack([rising, falling, flat, late, sporadic]))
    assert labels == ["intensifying", "diminishing", "persistent", "new", "sporadic"]
