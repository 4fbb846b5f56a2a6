"""The planner API: hotspot clusters, Gi* hexagons, the KDE heatmap and KPIs, with exports.

GET /api/v1/hotspots/clusters/, /api/v1/hotspots/hexagons/, /api/v1/stats/kpis/ answer GeoJSON
(KPIs: JSON rows) and, with `format=geojson|csv|gpkg`, a file download of the same rows.
/api/v1/hotspots/heatmap.png?bbox=w,s,e,n&width=&height= draws the KDE heatmap for a map view.
Filters: see filters.py. Planners only (permissions.py). The preventive-work endpoint under
/api/v1/hotspots/clusters/<id>/ is fieldteams' (fieldteams/api/preventive.py).
"""

import json

from django.conf import settings
from django.contrib.gis.db.models.functions import AsGeoJSON, Transform
from django.db.models import Func
from django.http import HttpResponse
from django.utils.translation import get_language
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from layers.models import BranchMunicipality

from .. import conf
from ..clusters import hotspot_clusters_current
from ..exports import FORMATS, Table, export_response
from ..filters import FilterError, HotspotFilters, filters_from_params
from ..hexagons import cell_polygon, hotspot_hexagons_current
from ..kde import kde_image
from ..kpis import kpi_rows
from ..models import HotspotRun
from ..permissions import IsPlanner
from ..selectors import cluster_layer, hexagon_layer


class FormatIsOurs(DefaultContentNegotiation):
    """`format` selects an export here, not one of DRF's renderers: always answer JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PlannerAPIView(APIView):
    permission_classes = [IsPlanner]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FormatIsOurs

    def filters(self, request) -> HotspotFilters:
        try:
            return filters_from_params(request.query_params)
        except FilterError as error:
            raise ValidationError({error.field: [error.reason]}) from error

    def export_format(self, request) -> str:
        fmt = request.query_params.get("format", "json").strip().lower() or "json"
        if fmt not in FORMATS:
            raise ValidationError({"format": [f"expected one of {', '.join(FORMATS)}"]})
        return fmt


def _names(obj, language: str) -> str | None:
    if obj is None:
        return None
    return obj.name_ar if language.startswith("ar") else obj.name_en


def _run_meta(run: HotspotRun, filters: HotspotFilters) -> dict:
    return {
        "run": {
            "id": run.pk,
            "kind": run.kind,
            "computed_at": run.started_at.isoformat(),
            "duration_ms": run.duration_ms,
            "reports": run.reports,
            "params": run.params,
        },
        "filters": filters.describe(),
    }


def _stem(kind: str, filters: HotspotFilters) -> str:
    described = filters.describe()
    parts = [kind, described["from"], described["to"]]
    parts += [value for value in (described["category"], described["branch"]) if value]
    return "_".join(parts)


def cluster_table(*, run: HotspotRun, filters: HotspotFilters, weekly: bool = True) -> Table:
    language = get_language() or "en"
    rows, geometries = [], []
    for cluster in cluster_layer(run=run, filters=filters):
        rows.append(
            {
                "id": cluster.pk,
                "category": cluster.category.code,
                "category_name": _names(cluster.category, language),
                "report_count": cluster.report_count,
                "open_count": cluster.open_count,
                "score": cluster.score,
                "first_report_at": cluster.first_report_at.isoformat(),
                "last_report_at": cluster.last_report_at.isoformat(),
                "dominant_subcategory": (
                    cluster.dominant_subcategory.code if cluster.dominant_subcategory else None
                ),
                "dominant_subcategory_name": _names(cluster.dominant_subcategory, language),
                "branch": cluster.branch.code if cluster.branch else None,
                "branch_name": _names(cluster.branch, language),
                "centroid_lon": round(cluster.centroid.x, 6),
                "centroid_lat": round(cluster.centroid.y, 6),
                "area_m2": round(cluster.area_m2),
                "eps_m": cluster.eps_m,
                "min_points": cluster.min_points,
                "trend": cluster.trend,
                "trend_tau": cluster.trend_tau,
                "trend_p": cluster.trend_p,
            }
        )
        if weekly:
            rows[-1]["weekly_counts"] = cluster.weekly_counts
        geometries.append(
            {
                "type": "Polygon",
                "coordinates": [
                    [[round(x, 6), round(y, 6)] for x, y in ring] for ring in cluster.hull.coords
                ],
            }
        )
    return Table(name="hotspot_clusters", rows=rows, geometries=geometries)


def hexagon_table(*, run: HotspotRun, filters: HotspotFilters, weekly: bool = True) -> Table:
    rows, geometries = [], []
    values = hexagon_layer(run=run, filters=filters).values_list(
        "h3_index",
        "resolution",
        "report_count",
        "z_score",
        "p_value",
        "bin",
        "trend",
        "trend_tau",
        "trend_p",
        "weekly_counts",
    )
    for index, resolution, count, z, p, bin_, trend, tau, p_trend, weekly_counts in values:
        rows.append(
            {
                "h3_index": index,
                "resolution": resolution,
                "report_count": count,
                "z_score": z,
                "p_value": p,
                "bin": bin_,
                "trend": trend,
                "trend_tau": tau,
                "trend_p": p_trend,
            }
        )
        if weekly:
            rows[-1]["weekly_counts"] = weekly_counts
        geometries.append({"type": "Polygon", "coordinates": [cell_polygon(index)]})
    return Table(name="hotspot_hexagons", rows=rows, geometries=geometries)


class ClustersView(PlannerAPIView):
    """DBSCAN hotspot clusters for the filters (computed now if no current run is stored)."""

    def get(self, request):
        filters = self.filters(request)
        fmt = self.export_format(request)
        run = hotspot_clusters_current(filters=filters)
        # The map layer leaves the weekly series out (a file has room for them).
        table = cluster_table(run=run, filters=filters, weekly=fmt != "json")
        meta = _run_meta(run, filters)
        if fmt == "json":
            return Response(table.feature_collection(**meta))
        return export_response(
            table=table, fmt=fmt, stem=_stem("hotspot-clusters", filters), extra=meta
        )


class HexagonsView(PlannerAPIView):
    """H3 hexagons with Gi* z-score, p-value, bin and trend (computed now if not stored)."""

    def get(self, request):
        filters = self.filters(request)
        fmt = self.export_format(request)
        run = hotspot_hexagons_current(filters=filters)
        table = hexagon_table(run=run, filters=filters, weekly=fmt != "json")
        meta = _run_meta(run, filters)
        if fmt == "json":
            return Response(table.feature_collection(**meta))
        return export_response(
            table=table, fmt=fmt, stem=_stem("hotspot-hexagons", filters), extra=meta
        )


class KpisView(PlannerAPIView):
    """KPIs per branch municipality x category for the period (rows; geo formats carry the
    branch outline)."""

    def get(self, request):
        filters = self.filters(request)
        fmt = self.export_format(request)
        rows = kpi_rows(filters=filters)
        if fmt == "json":
            return Response({"filters": filters.describe(), "rows": rows})
        geometries = None
        if fmt in ("geojson", "gpkg"):
            outlines = _branch_outlines()
            geometries = [outlines.get(row["branch"]) for row in rows]
        table = Table(name="kpis", rows=rows, geometries=geometries)
        return export_response(
            table=table, fmt=fmt, stem=_stem("kpis", filters), extra={"filters": filters.describe()}
        )


def _branch_outlines() -> dict[str, dict]:
    """Branch outlines simplified by 100 m in the metric CRS, as GeoJSON geometries."""

    simplified = Transform(
        Func(
            Transform("geom", settings.GEO_OPS_METRIC_SRID),
            100.0,
            function="ST_SimplifyPreserveTopology",
            output_field=BranchMunicipality._meta.get_field("geom"),
        ),
        4326,
    )
    rows = BranchMunicipality.objects.annotate(outline=AsGeoJSON(simplified, precision=5))
    return {code: json.loads(outline) for code, outline in rows.values_list("code", "outline")}


class HeatmapView(PlannerAPIView):
    """The KDE heatmap of the filtered reports for a map view, as a transparent PNG."""

    def get(self, request):
        filters = self.filters(request)
        try:
            west, south, east, north = (
                float(v) for v in request.query_params.get("bbox", "").split(",")
            )
        except ValueError as error:
            raise ValidationError(
                {"bbox": ["expected west,south,east,north in degrees"]}
            ) from error
        if not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
            raise ValidationError({"bbox": ["expected west < east and south < north"]})
        limit = conf.get("GEO_OPS_HOTSPOT_KDE_MAX_PX")
        try:
            width = int(request.query_params.get("width", 512))
            height = int(request.query_params.get("height", 512))
        except ValueError as error:
            raise ValidationError({"width": ["expected whole pixels"]}) from error
        if not (1 <= width <= limit and 1 <= height <= limit):
            raise ValidationError({"width": [f"width and height must be 1 to {limit} pixels"]})
        png, scale = kde_image(
            filters=filters, bbox=(west, south, east, north), width=width, height=height
        )
        response = HttpResponse(png, content_type="image/png")
        response["X-Heatmap-Reports"] = str(scale["reports"])
        response["X-Heatmap-Peak-Per-Km2"] = str(scale["peak_per_km2"])
        response["X-Heatmap-Bandwidth-M"] = str(scale["bandwidth_m"])
        response["Cache-Control"] = "private, max-age=60"
        return response
