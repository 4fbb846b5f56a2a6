"""DBSCAN hotspot clusters, computed in PostGIS (ST_ClusterDBSCAN) and stored per run."""

import math
import time

import numpy as np
from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.db.models import Count

from geo_ops.reports.models import OPEN_STATUSES, Category

from . import conf
from .filters import HotspotFilters
from .models import HotspotCluster, HotspotRun
from .selectors import (
    analysis_reports,
    analysis_where,
    data_fingerprint,
    run_current,
    run_signature,
)
from .trends import WEEK_S, trend_labels, weeks_in

# One statement clusters every category (PARTITION BY category_id) in the metric CRS, where eps
# is in metres; each partition takes its eps and min points from the joined parameter rows
# (ST_ClusterDBSCAN reads them per partition). Raw SQL because the ORM cannot aggregate the
# results of a window function again; the GROUP BY then builds each cluster's hull, centroid,
# period, dominant subcategory and branch (mode), and the week of each report for its trend.
CLUSTER_SQL = """
WITH params(category_id, eps, minpoints) AS (
    SELECT * FROM unnest(%(categories)s::bigint[], %(eps)s::float8[], %(minpoints)s::int[])
),
points AS (
    SELECT r.id, r.category_id, r.subcategory_id, r.branch_id, r.status, r.created_at,
           ST_Transform(r.location, %(srid)s) AS geom
    FROM reports_report r
    WHERE {where}
),
labelled AS (
    SELECT points.*, params.eps,
           ST_ClusterDBSCAN(points.geom, eps => params.eps, minpoints => params.minpoints)
               OVER (PARTITION BY points.category_id) AS cluster
    FROM points JOIN params USING (category_id)
),
clusters AS (
    SELECT category_id, cluster, min(eps) AS eps,
           count(*) AS n,
           count(*) FILTER (WHERE status IN %(open)s) AS n_open,
           ST_ConvexHull(ST_Collect(geom)) AS hull,
           ST_Centroid(ST_Collect(geom)) AS centroid,
           min(created_at) AS first_at, max(created_at) AS last_at,
           mode() WITHIN GROUP (ORDER BY subcategory_id) AS subcategory_id,
           mode() WITHIN GROUP (ORDER BY branch_id) AS branch_id,
           array_agg(floor(extract(epoch FROM created_at - %(start)s) / %(week)s)::int) AS weeks
    FROM labelled
    WHERE cluster IS NOT NULL
    GROUP BY category_id, cluster
),
shaped AS (
    -- Collinear reports have a line for a hull: give it an area (eps / 4 either side).
    SELECT *, CASE WHEN GeometryType(hull) = 'POLYGON' THEN hull
                   ELSE ST_Buffer(hull, eps / 4, 4) END AS area_geom
    FROM clusters
)
SELECT category_id, n, n_open, ST_AsEWKB(ST_Transform(area_geom, 4326)),
       ST_AsEWKB(ST_Transform(centroid, 4326)), ST_Area(area_geom), first_at, last_at,
       subcategory_id, branch_id, weeks
FROM shaped
ORDER BY category_id, n DESC
"""


def dbscan_parameters(*, filters: HotspotFilters) -> dict[str, dict]:
    """eps and the effective min points per category for this selection (see conf.py)."""
    counts = dict(
        analysis_reports(filters=filters)
        .values_list("category__code")
        .order_by()
        .annotate(n=Count("id"))
    )
    categories = Category.objects.filter(parent__isnull=True).order_by("sort_order", "code")
    if filters.category is not None:
        categories = categories.filter(pk=filters.category.pk)
    table = {}
    for category in categories:
        params = conf.dbscan_params(category.code)
        n = counts.get(category.code, 0)
        table[category.code] = {
            "eps_m": float(params["eps_m"]),
            "min_points": max(int(params["min_points"]), math.ceil(params["min_share"] * n)),
            "reports": n,
        }
    return table


def _store(*, run: HotspotRun, rows: list, table: dict, by_id: dict, filters) -> int:
    period_s = (filters.date_to - filters.date_from).total_seconds()
    weeks = weeks_in(period_s)
    counts = np.zeros((len(rows), weeks), dtype=np.int64)
    for index, row in enumerate(rows):
        week_index = np.clip(np.asarray(row[10], dtype=np.int64), 0, weeks - 1)
        counts[index] = np.bincount(week_index, minlength=weeks)
    labels, tau, p = trend_labels(counts)
    months = period_s / (30 * 24 * 3600)
    clusters = []
    for index, row in enumerate(rows):
        category = by_id[row[0]]
        params = table[category.code]
        clusters.append(
            HotspotCluster(
                run=run,
                category=category,
                report_count=row[1],
                open_count=row[2],
                hull=GEOSGeometry(memoryview(row[3])),
                centroid=GEOSGeometry(memoryview(row[4])),
                area_m2=row[5],
                first_report_at=row[6],
                last_report_at=row[7],
                dominant_subcategory_id=row[8],
                branch_id=row[9],
                score=round(row[1] / months, 2),
                eps_m=params["eps_m"],
                min_points=params["min_points"],
                trend=labels[index],
                trend_tau=round(float(tau[index]), 4),
                trend_p=round(float(p[index]), 4),
                weekly_counts=counts[index].tolist(),
            )
        )
    HotspotCluster.objects.bulk_create(clusters, batch_size=500)
    return len(clusters)


def hotspot_clusters_compute(*, filters: HotspotFilters, trigger: str = "api") -> HotspotRun:
    """Cluster the selected reports with DBSCAN per category and store the clusters as a run."""
    started = time.perf_counter()
    table = dbscan_parameters(filters=filters)
    by_code = {
        c.code: c for c in Category.objects.filter(parent__isnull=True, code__in=list(table))
    }
    by_id = {c.pk: c for c in by_code.values()}
    fingerprint = data_fingerprint(filters=filters)
    where, where_params = analysis_where(filters=filters)
    sql = CLUSTER_SQL.format(where=where)
    codes = list(table)
    params = {
        "categories": [by_code[c].pk for c in codes],
        "eps": [table[c]["eps_m"] for c in codes],
        "minpoints": [table[c]["min_points"] for c in codes],
        "srid": settings.GEO_OPS_METRIC_SRID,
        "open": tuple(str(s) for s in OPEN_STATUSES),
        "start": filters.date_from,
        "week": WEEK_S,
        **where_params,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The window function's cost estimate is huge, so PostgreSQL would JIT-compile the
            # statement: 0.6 s of compiling for a 0.5 s query (bench/hotspots.py). The sort by
            # category before the window needs more than the default 4 MB to stay in memory.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        run = HotspotRun.objects.create(
            kind=HotspotRun.Kind.CLUSTERS,
            category=filters.category,
            branch=filters.branch,
            date_from=filters.date_from,
            date_to=filters.date_to,
            params={"dbscan": table, "srid": settings.GEO_OPS_METRIC_SRID},
            signature=run_signature(
                kind=HotspotRun.Kind.CLUSTERS, filters=filters, params=_signature_params(table)
            ),
            fingerprint=fingerprint,
            trigger=trigger,
            reports=sum(t["reports"] for t in table.values()),
        )
        run.results = _store(run=run, rows=rows, table=table, by_id=by_id, filters=filters)
        run.duration_ms = round((time.perf_counter() - started) * 1000)
        run.save(update_fields=["results", "duration_ms"])
    return run


def _signature_params(table: dict) -> dict:
    # The configured parameters, not the effective min points (those follow from the data,
    # which the fingerprint already covers).
    return {code: conf.dbscan_params(code) for code in sorted(table)}


def hotspot_clusters_current(*, filters: HotspotFilters, trigger: str = "api") -> HotspotRun:
    """The stored run for these filters if its data is unchanged, else a new one."""
    if not filters.refresh:
        table_codes = (
            [filters.category.code]
            if filters.category
            else list(Category.objects.filter(parent__isnull=True).values_list("code", flat=True))
        )
        signature = run_signature(
            kind=HotspotRun.Kind.CLUSTERS,
            filters=filters,
            params=_signature_params({c: None for c in table_codes}),
        )
        run = run_current(signature=signature, fingerprint=data_fingerprint(filters=filters))
        if run is not None:
            return run
    return hotspot_clusters_compute(filters=filters, trigger=trigger)
