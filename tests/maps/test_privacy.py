"""geo_ops.reports.privacy: public locations of sensitive categories are snapped to 100 m."""

import pytest
from django.contrib.gis.geos import Point, Polygon

from geo_ops.reports.models import Category, PublicVisibility, Report
from geo_ops.reports.privacy import (
    COARSE_GRID_M,
    public_bbox_filter,
    public_location_expression,
    publicly_located,
)
from tests.conftest import DAMMAM_CORNICHE

pytestmark = pytest.mark.django_db

# A point deliberately off any 100 m grid node (UTM 39N).
SHOP = (50.10337, 26.44251)


def public_point(report: Report) -> Point | None:
    return (
        Report.objects.filter(pk=report.pk)
        .annotate(public_location=public_location_expression())
        .values_list("public_location", flat=True)
        .get()
    )


def test_markets_public_health_is_coarse_in_the_fixture():
    markets = Category.objects.get(code="markets_public_health")
    assert markets.public_visibility == PublicVisibility.COARSE
    assert set(markets.children.values_list("public_visibility", flat=True)) == {"coarse"}


def test_coarse_category_snaps_to_a_100_m_grid_node(make_report):
    report = make_report("food_hygiene", *SHOP)
    public = public_point(report)
    assert public is not None and public.srid == 4326
    assert public.coords != pytest.approx(SHOP, abs=1e-7)
    metric = public.transform(32639, clone=True)
    for value in metric.coords:
        assert value / COARSE_GRID_M == pytest.approx(round(value / COARSE_GRID_M), abs=1e-4)
    exact = Point(*SHOP, srid=4326).transform(32639, clone=True)
    # Snapping moves a point at most half a cell along each axis.
    assert abs(metric.x - exact.x) <= 50.001 and abs(metric.y - exact.y) <= 50.001


def test_reports_of_one_100_m_cell_share_one_public_point(make_report):
    a = make_report("food_hygiene", *SHOP)
    b = make_report("expired_food", SHOP[0] + 0.0001, SHOP[1] + 0.0001)
    assert public_point(a).coords == pytest.approx(public_point(b).coords, abs=1e-9)


def test_exact_category_keeps_its_point(make_report):
    report = make_report("pothole", *SHOP)
    assert public_point(report).coords == pytest.approx(SHOP, abs=1e-9)


def test_stricter_of_category_and_subcategory_applies(make_report):
    Category.objects.filter(code="pothole").update(public_visibility=PublicVisibility.COARSE)
    report = make_report("pothole", *SHOP)
    assert public_point(report).coords != pytest.approx(SHOP, abs=1e-7)


def test_hidden_category_has_no_public_location(make_report):
    Category.objects.filter(code="rodents").update(public_visibility=PublicVisibility.HIDDEN)
    report = make_report("rodents", *DAMMAM_CORNICHE)
    assert public_point(report) is None
    assert not Report.objects.filter(pk=report.pk).filter(publicly_located()).exists()
    other = make_report("mosquitoes", *DAMMAM_CORNICHE)
    assert Report.objects.filter(pk=other.pk).filter(publicly_located()).exists()


def test_bbox_filter_cannot_pinpoint_a_coarsened_report(make_report):
    """A tiny box around the exact point must not find it (unless the grid node is inside)."""
    report = make_report("food_hygiene", *SHOP)
    public = public_point(report)
    tiny = Polygon.from_bbox((SHOP[0] - 1e-5, SHOP[1] - 1e-5, SHOP[0] + 1e-5, SHOP[1] + 1e-5))
    tiny.srid = 4326
    assert not public_bbox_filter(Report.objects.all(), tiny).filter(pk=report.pk).exists()
    around_public = Polygon.from_bbox(
        (public.x - 1e-5, public.y - 1e-5, public.x + 1e-5, public.y + 1e-5)
    )
    around_public.srid = 4326
    assert public_bbox_filter(Report.objects.all(), around_public).filter(pk=report.pk).exists()
    exact = make_report("pothole", *SHOP)
    assert public_bbox_filter(Report.objects.all(), tiny).filter(pk=exact.pk).exists()
