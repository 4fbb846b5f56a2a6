"""Reads of the map pages: what the public map shows, all of it through the privacy rules.

Every location leaving this module comes from geo_ops.reports.privacy.public_location_expression
(coarsened for sensitive categories, absent for hidden ones), and no query here touches the
reporter's contact.
"""

import json
import math
from dataclasses import dataclass

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON, Transform
from django.contrib.gis.geos import Polygon
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, FloatField, IntegerField, Max, QuerySet, Sum
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from geo_ops.db.functions import SimplifyPreserveTopology, X, Y
from geo_ops.reports.models import Category, Report, ReportEvent
from geo_ops.reports.privacy import public_bbox_filter, publicly_located
from layers.models import BranchMunicipality

from . import conf
from .models import SUMMARY_CELL_DEG, PublicMapCell, PublicMapSummary

# Category colours (Okabe-Ito, distinguishable with the common colour-vision deficiencies).
CATEGORY_COLORS = {
    "markets_public_health": "#E69F00",
    "environmental_sanitation": "#CC79A7",
    "public_cleanliness": "#0072B2",
    "parks_facilities": "#009E73",
    "roads_networks": "#D55E00",
    "lighting_billboards": "#56B4E9",
}
FALLBACK_COLORS = ("#999999", "#000000", "#F0E442", "#882255", "#44AA99", "#117733")
# A display cell is about this many screen pixels wide: Leaflet's tiles are 256 px, so at zoom z
# one degree of longitude is 256 * 2**z / 360 px.
DISPLAY_CELL_PX = 80


def category_color(category: Category) -> str:
    return CATEGORY_COLORS.get(
        category.code, FALLBACK_COLORS[category.sort_order % len(FALLBACK_COLORS)]
    )


def map_categories(*, language: str) -> list[dict]:
    """Top-level categories with colour, name in `language` and their subcategories."""
    categories = Category.objects.filter(active=True).order_by("sort_order", "code")
    children: dict[int, list[dict]] = {}
    top = []
    for category in categories:
        if category.parent_id:
            children.setdefault(category.parent_id, []).append(
                {"code": category.code, "name": category.name(language)}
            )
        else:
            top.append(category)
    return [
        {
            "code": category.code,
            "name": category.name(language),
            "color": category_color(category),
            "subcategories": children.get(category.pk, []),
        }
        for category in top
    ]


def public_open_reports(*, category: Category | None = None) -> QuerySet[Report]:
    """Open reports the public may see on a map (hidden categories left out)."""
    queryset = Report.objects.open().filter(publicly_located()).order_by()
    if category is not None:
        queryset = queryset.in_category(category)
    return queryset


def display_cell_deg(zoom: int) -> float:
    """Edge of a grid cell at this zoom: about DISPLAY_CELL_PX pixels, a power-of-two multiple
    of the summary cell so summary cells nest in it exactly (and never below the summary cell:
    finer grids are counted live)."""
    wanted = DISPLAY_CELL_PX * 360 / (256 * 2**zoom)
    factor = 2 ** max(0, round(math.log2(wanted / SUMMARY_CELL_DEG)))
    return SUMMARY_CELL_DEG * factor


def _bbox_polygon(bbox: tuple[float, float, float, float]) -> Polygon:
    polygon = Polygon.from_bbox(bbox)
    polygon.srid = 4326
    return polygon


@dataclass
class _Cell:
    reports: int = 0
    sum_lon: float = 0.0
    sum_lat: float = 0.0

    def add(self, reports: int, sum_lon: float, sum_lat: float) -> None:
        self.reports += reports
        self.sum_lon += sum_lon
        self.sum_lat += sum_lat


def _grid_live(queryset: QuerySet, cell_deg: float):
    """(gx, gy, category_id, reports, sum_lon, sum_lat) per cell, counted from the reports.

    `queryset` must carry the `public_location` annotation (public_bbox_filter adds it).
    """
    return (
        queryset.annotate(
            gx=Cast(Floor(X("public_location") / cell_deg), IntegerField()),
            gy=Cast(Floor(Y("public_location") / cell_deg), IntegerField()),
        )
        .values_list("gx", "gy", "category_id")
        .annotate(
            n=Count("id"),
            sx=Sum(X("public_location")),
            sy=Sum(Y("public_location")),
        )
        .order_by()
    )


def _grid_from_summary(bbox, factor: int, category: Category | None):
    """The same rows as _grid_live, added up from the summary cells inside the bbox."""
    xmin, ymin, xmax, ymax = bbox
    cells = PublicMapCell.objects.filter(
        cx__gte=math.floor(xmin / SUMMARY_CELL_DEG),
        cx__lte=math.floor(xmax / SUMMARY_CELL_DEG),
        cy__gte=math.floor(ymin / SUMMARY_CELL_DEG),
        cy__lte=math.floor(ymax / SUMMARY_CELL_DEG),
    )
    if category is not None:
        cells = cells.filter(category=category.top_level)
    return (
        cells.annotate(
            gx=Cast(Floor(Cast("cx", FloatField()) / factor), IntegerField()),
            gy=Cast(Floor(Cast("cy", FloatField()) / factor), IntegerField()),
        )
        .values_list("gx", "gy", "category_id")
        .annotate(n=Sum("reports"), sx=Sum("sum_lon"), sy=Sum("sum_lat"))
        .order_by()
    )


def without_jit():
    """JIT compilation of the coarsening expression costs PostgreSQL seconds on a big scan for a
    query that itself runs in milliseconds to a second; it is turned off for map queries."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")


def public_map_summary() -> PublicMapSummary | None:
    return PublicMapSummary.objects.order_by("-refreshed_at").first()


def map_data(
    *,
    bbox: tuple[float, float, float, float],
    zoom: int,
    category: Category | None = None,
    summary: PublicMapSummary | None = None,
) -> dict:
    """What the public map shows in a view: its open reports as points when there are few, or
    counted per grid cell (with each category's share) when there are many.

    Low zoom levels add up the precomputed summary cells plus the reports added since the
    summary was built; zoom levels finer than the summary grid count the view's reports live
    (a small area, found through the GiST index).
    """
    without_jit()
    polygon = _bbox_polygon(bbox)
    in_view = public_bbox_filter(public_open_reports(category=category), polygon)
    max_points = conf.get("GEO_OPS_PUBLIC_MAP_MAX_POINTS")
    cell_deg = display_cell_deg(zoom)
    wanted_deg = DISPLAY_CELL_PX * 360 / (256 * 2**zoom)
    if summary is not None and wanted_deg >= SUMMARY_CELL_DEG:
        factor = round(cell_deg / SUMMARY_CELL_DEG)
        rows = list(_grid_from_summary(bbox, factor, category))
        # Reports added since the summary was built, so a new report shows at once.
        rows += list(_grid_live(in_view.filter(id__gt=summary.covers_up_to_id), cell_deg))
        if sum(row[3] for row in rows) > max_points:
            return _grid_response(rows, cell_deg)
    elif in_view.values("id")[: max_points + 1].count() > max_points:
        return _grid_response(list(_grid_live(in_view, cell_deg)), cell_deg)
    points = _points(in_view, limit=max_points)
    return {"mode": "points", "total": len(points), "points": points}


def _grid_response(rows, cell_deg: float) -> dict:
    """Rows (gx, gy, category_id, reports, sum_lon, sum_lat) merged into one entry per cell."""
    cells: dict[tuple[int, int], dict[int, _Cell]] = {}
    for gx, gy, category_id, n, sx, sy in rows:
        cells.setdefault((gx, gy), {}).setdefault(category_id, _Cell()).add(n, sx, sy)
    codes = dict(Category.objects.filter(parent__isnull=True).values_list("id", "code"))
    out = []
    total = 0
    for by_category in cells.values():
        n = sum(cell.reports for cell in by_category.values())
        if not n:
            continue
        total += n
        out.append(
            {
                "lon": round(sum(c.sum_lon for c in by_category.values()) / n, 5),
                "lat": round(sum(c.sum_lat for c in by_category.values()) / n, 5),
                "n": n,
                "by": {codes.get(cid, str(cid)): c.reports for cid, c in by_category.items()},
            }
        )
    return {"mode": "grid", "cell_deg": cell_deg, "total": total, "cells": out}


def _points(in_view: QuerySet, *, limit: int) -> list[dict]:
    rows = in_view.values_list(
        "tracking_number",
        "category__code",
        "subcategory__code",
        "status",
        "created_at",
        "public_location",
    )[:limit]
    points = []
    for tracking, category, subcategory, status, created_at, location in rows:
        points.append(
            {
                "t": tracking,
                "c": category,
                "s": subcategory or "",
                "st": status,
                "d": timezone.localtime(created_at).date().isoformat(),
                "lon": round(location.x, 6),
                "lat": round(location.y, 6),
            }
        )
    return points


def branch_outlines_geojson() -> str:
    """The branch municipalities as a GeoJSON FeatureCollection, simplified for a page.

    The full boundaries are about 1.3 MB of GeoJSON (coastlines); simplified with a tolerance of
    GEO_OPS_PUBLIC_MAP_OUTLINE_TOLERANCE_M metres, in the metric CRS, they are under 100 kB.
    Cached until a boundary changes.
    """
    tolerance = conf.get("GEO_OPS_PUBLIC_MAP_OUTLINE_TOLERANCE_M")
    branches = BranchMunicipality.objects.all()
    stamp = branches.aggregate(changed=Max("updated_at"), n=Count("id"))
    changed = stamp["changed"].timestamp() if stamp["changed"] else 0
    key = f"maps-branch-outlines-{tolerance}-{stamp['n']}-{changed}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    metric_srid = settings.GEO_OPS_METRIC_SRID
    outlines = branches.order_by("code").annotate(
        outline=AsGeoJSON(
            Transform(SimplifyPreserveTopology(Transform("geom", metric_srid), tolerance), 4326),
            precision=5,
        )
    )
    features = [
        {
            "type": "Feature",
            "properties": {"code": b.code, "name_en": b.name_en, "name_ar": b.name_ar},
            "geometry": json.loads(b.outline),
        }
        for b in outlines.only("code", "name_en", "name_ar")
    ]
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    cache.set(key, body, timeout=24 * 3600)
    return body


def report_by_tracking_number(number: str) -> Report | None:
    """The report with this tracking number, with only its public fields loaded."""
    number = (number or "").strip().upper()
    if not number or len(number) > 20:
        return None
    return (
        Report.objects.select_related("category", "subcategory", "branch")
        .only(
            "tracking_number",
            "status",
            "created_at",
            "updated_at",
            "closed_at",
            "due_at",
            "category__code",
            "category__name_en",
            "category__name_ar",
            "category__public_visibility",
            "subcategory__code",
            "subcategory__name_en",
            "subcategory__name_ar",
            "subcategory__public_visibility",
            "branch__code",
            "branch__name_en",
            "branch__name_ar",
        )
        .filter(tracking_number=number)
        .first()
    )


def report_public_history(report: Report) -> list[ReportEvent]:
    """The report's audit events marked public, oldest first (who acted is never shown)."""
    return list(
        ReportEvent.objects.filter(report=report, public=True)
        .only("created_at", "kind", "from_status", "to_status", "note")
        .order_by("created_at", "id")
    )
