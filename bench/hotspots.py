"""Benchmark: hotspot analysis and the planner dashboard's API.

Targets (issue 5), measured side by side in one run:
- DBSCAN over 100,000 and 1,000,000 reports (ST_ClusterDBSCAN in PostGIS, per category, metric
  CRS, stored with hulls, trends) in under 1 s and 10 s, against scikit-learn's DBSCAN
  (haversine metric, ball tree) on the same points with the same eps and min points per
  category; the ratio is printed (scikit-learn time / ours);
- H3 aggregation plus Gi* with 999 permutations over about 30,000 cells in under 5 s;
- the dashboard's API calls (clusters, hexagons, KPIs, heatmap) for the demo year in under 300 ms
  (median of repeated calls once the layers are stored, as the periodic task keeps them).

Data: BENCH_HOTSPOTS_DATABASE_URL (default geo_ops_bench_hotspots on DATABASE_URL's server) gets
1,000,000 open reports around the urban centres of the demo year, written set-based (COPY and
one INSERT ... SELECT) and reused by later runs; the first 100,000 by time are the 100k case.
BENCH_HOTSPOTS_DEMO_DATABASE_URL (default geo_ops_bench_hotspots_demo) holds the demo year.
Each part runs in a subprocess with its own database settings.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time

from bench import harness
from bench.common import Result

NAME = "hotspots"
REPORTS = int(os.environ.get("BENCH_HOTSPOTS_REPORTS", "1000000"))
SMALL = 100_000
YEAR_START = "2025-01-01"
API_CALLS = 10
SPOTS, SPOT_SHARE, SPOT = 30, 0.03, "bench hotspot"


DATA_URL = harness.database_url("BENCH_HOTSPOTS_DATABASE_URL", "geo_ops_bench_hotspots")
DEMO_URL = harness.database_url("BENCH_HOTSPOTS_DEMO_DATABASE_URL", "geo_ops_bench_hotspots_demo")


def _subprocess(part: str, database_url: str) -> dict:
    """Set the database up (with field teams, as the demo year needs), then measure `part` in a
    child process on it."""
    harness.database_setup(database_url, field_teams=True)
    env = harness.env(database_url, GEO_OPS_DISPATCH_ON_INTAKE="false")
    return json.loads(harness.python("-m", "bench.hotspots", part, env=env).splitlines()[-1])


# --------------------------------------------------------------------------- in the subprocess


def _seed(n: int) -> float:
    """n open reports around the demo year's urban centres, spread over 2025 (if not there)."""
    import numpy as np
    from django.db import connection

    from geo_ops.demo import year as demo
    from geo_ops.reports.models import Category, Report

    if Report.objects.count() >= n and Report.objects.filter(description=SPOT).exists():
        return 0.0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reports_report CASCADE")
    rng = np.random.default_rng(2025)
    centres = demo.URBAN_CENTRES[:-1]  # Al Udayd's desert posts add nothing here
    share = np.array([c.share for c in centres])
    which = rng.choice(len(centres), size=n, p=share / share.sum())
    spread = np.array([c.spread_km for c in centres])[which]
    lat = np.array([c.lat for c in centres])[which] + rng.normal(0, 1, n) * spread / 111.32
    lon = np.array([c.lon for c in centres])[which] + rng.normal(0, 1, n) * spread / (
        111.32 * math.cos(math.radians(26.5))
    )
    subs = list(Category.objects.filter(parent__isnull=False).values_list("id", "parent_id"))
    pick = rng.integers(0, len(subs), n)
    # Hotspots to find: SPOTS disks of 150 m around urban points, SPOT_SHARE of the reports,
    # each of one subcategory.
    in_spot = rng.uniform(0, 1, n) < SPOT_SHARE
    spot = rng.integers(0, SPOTS, n)
    spot_centre = rng.integers(0, n, SPOTS)
    spot_sub = rng.integers(0, len(subs), SPOTS)
    r = 150 * np.sqrt(rng.uniform(0, 1, n)) / 111_320
    theta = rng.uniform(0, 2 * np.pi, n)
    lat = np.where(in_spot, lat[spot_centre[spot]] + r * np.sin(theta), lat)
    lon = np.where(
        in_spot, lon[spot_centre[spot]] + r * np.cos(theta) / math.cos(math.radians(26.5)), lon
    )
    pick = np.where(in_spot, spot_sub[spot], pick)
    seconds = np.sort(rng.uniform(0, 365 * 86400, n))
    buffer = io.StringIO()
    for i in range(n):
        sub, top = subs[pick[i]]
        text = SPOT if in_spot[i] else ""
        buffer.write(f"{lon[i]:.6f}\t{lat[i]:.6f}\t{top}\t{sub}\t{seconds[i]:.0f}\t{text}\n")
    buffer.seek(0)
    _seed_insert(buffer)
    return time.perf_counter() - started


def _seed_insert(rows: io.StringIO) -> None:
    """COPY the rows into a temp table, then one INSERT ... SELECT into reports_report."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    from geo_ops.reports.models import Report

    # Every NOT NULL column without a database default gets its model default, so the INSERT
    # keeps working as the report model grows.
    explicit = {
        "category_id": "s.category_id",
        "subcategory_id": "s.subcategory_id",
        "location": "ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)",
        "channel": "'app'",
        "status": "'new'",
        "description": "s.description",
        "created_at": f"timestamptz '{YEAR_START} 00:00+03' + s.seconds * interval '1 second'",
        "updated_at": f"timestamptz '{YEAR_START} 00:00+03' + s.seconds * interval '1 second'",
    }
    columns, values, params = [], [], []
    for field in Report._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in explicit:
            columns.append(field.column)
            values.append(explicit[field.column])
        elif not field.null and field.db_default is NOT_PROVIDED:
            columns.append(field.column)
            values.append("%s")
            params.append(field.get_default())
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE seed (lon float8, lat float8, category_id bigint, "
            "subcategory_id bigint, seconds float8, description text)"
        )
        cursor.copy_expert("COPY seed FROM STDIN", rows)
        cursor.execute(
            f"INSERT INTO reports_report ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM seed s ORDER BY s.seconds",
            params,
        )
        # What autovacuum does soon after a load: summarise the new BRIN ranges (created_at),
        # without which every date filter reads the whole table.
        cursor.execute("SELECT brin_summarize_new_values('reports_created_brin')")
        cursor.execute("ANALYZE reports_report")


def _sklearn(points, table: dict, codes: dict) -> tuple[float, int]:
    """scikit-learn DBSCAN per category on the same points: (seconds, clusters)."""
    import numpy as np
    from sklearn.cluster import DBSCAN

    earth_m = 6_371_008.8
    started = time.perf_counter()
    clusters = 0
    for code, params in table.items():
        mask = points[:, 2] == codes[code]
        if not mask.any():
            continue
        coords = np.radians(points[mask][:, [1, 0]])  # (lat, lon) for haversine
        labels = (
            DBSCAN(
                eps=params["eps_m"] / earth_m,
                min_samples=params["min_points"],
                metric="haversine",
                algorithm="ball_tree",
            )
            .fit(coords)
            .labels_
        )
        clusters += len(set(labels.tolist()) - {-1})
    return time.perf_counter() - started, clusters


def part_dbscan() -> dict:
    harness.django_setup()
    import numpy as np
    from django.db import connection

    from geo_ops.hotspots.clusters import hotspot_clusters_compute
    from geo_ops.hotspots.filters import filters_from_params
    from geo_ops.hotspots.hexagons import gi_star
    from geo_ops.hotspots.models import HotspotRun
    from geo_ops.hotspots.selectors import analysis_where
    from geo_ops.reports.models import Category, Report

    seeded = _seed(REPORTS)
    out: dict = {"seed_s": seeded, "reports": Report.objects.count()}
    codes = dict(Category.objects.filter(parent__isnull=True).values_list("code", "id"))
    # The 100k case: the first SMALL reports by time, as a period filter.
    small_end = Report.objects.order_by("created_at").values_list("created_at", flat=True)[
        SMALL - 1
    ]
    cases = {
        "100k": filters_from_params({"from": YEAR_START, "to": small_end.isoformat()}),
        "1M": filters_from_params({"from": YEAR_START, "to": "2025-12-31"}),
    }
    for label, filters in cases.items():
        hotspot_clusters_compute(filters=filters, trigger="bench")  # warm the cache
        best = None
        for _ in range(2):
            started = time.perf_counter()
            run = hotspot_clusters_compute(filters=filters, trigger="bench")
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        where, params = analysis_where(filters=filters)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT ST_X(r.location), ST_Y(r.location), r.category_id "
                f"FROM reports_report r WHERE {where}",
                params,
            )
            points = np.array(cursor.fetchall(), dtype=float)
        sk_s, sk_clusters = _sklearn(points, run.params["dbscan"], codes)
        out[label] = {
            "reports": run.reports,
            "ours_s": best,
            "ours_clusters": run.results,
            "sklearn_s": sk_s,
            "sklearn_clusters": sk_clusters,
        }
        HotspotRun.objects.filter(trigger="bench").delete()

    # Gi*: H3 aggregation and 999 permutations; the resolution-9 cells of the 100k case plus
    # their rings come to about 30,000.
    filters = cases["100k"]
    where, params = analysis_where(filters=filters)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_X(r.location), ST_Y(r.location) FROM reports_report r WHERE {where}",
            params,
        )
        points = np.array(cursor.fetchall(), dtype=float)
    gi_star(lon=points[:2000, 0], lat=points[:2000, 1], resolution=9, permutations=99, seed=1)
    started = time.perf_counter()
    result = gi_star(lon=points[:, 0], lat=points[:, 1], resolution=9, permutations=999, seed=12345)
    out["gi"] = {
        "seconds": time.perf_counter() - started,
        "cells": len(result.cells),
        "points": len(points),
        "hot": int((result.bins > 0).sum()),
    }
    return out


def part_api() -> dict:
    harness.django_setup()
    import statistics

    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.test import Client

    from geo_ops.hotspots.tasks import hotspots_recompute
    from geo_ops.reports.models import Report

    settings.ALLOWED_HOSTS = ["*"]
    if not Report.objects.filter(external_id__startswith="demo-2025-42-x1-").exists():
        call_command("generate_demo_data", year=2025, seed=42, verbosity=0)
    hotspots_recompute()  # what the periodic task keeps current
    user, _ = User.objects.get_or_create(username="bench-planner")
    user.groups.add(Group.objects.get(name="planner"))
    client = Client()
    client.force_login(user)
    calls = {
        "clusters": "/api/v1/hotspots/clusters/",
        "hexagons (H3 8, min_count 1)": "/api/v1/hotspots/hexagons/?min_count=1",
        "kpis": "/api/v1/stats/kpis/",
        "heatmap 1280x800": "/api/v1/hotspots/heatmap.png?bbox=49.8,26.1,50.4,26.7"
        "&width=1024&height=800",
        "clusters, one category": "/api/v1/hotspots/clusters/?category=roads_networks",
    }
    out = {}
    for label, url in calls.items():
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        times = []
        for _ in range(API_CALLS):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        out[label] = {"median_ms": statistics.median(times) * 1000, "bytes": len(answer.content)}
    return out


# --------------------------------------------------------------------------- the benchmark


def run() -> list[Result]:
    results: list[Result] = []
    data = _subprocess("dbscan", DATA_URL)
    for label, target in (("100k", 1.0), ("1M", 10.0)):
        case = data[label]
        ratio = case["sklearn_s"] / case["ours_s"]
        line = (
            f"DBSCAN {label}: ours {case['ours_s']:.2f} s ({case['ours_clusters']} clusters), "
            f"scikit-learn {case['sklearn_s']:.2f} s ({case['sklearn_clusters']} clusters), "
            f"ratio {ratio:.1f}x"
        )
        print(line, flush=True)
        results.append(
            Result(
                NAME,
                f"DBSCAN per category, {case['reports']:,} reports (PostGIS, stored)",
                case["ours_s"],
                "s",
                target=f"< {target:g} s and faster than scikit-learn",
                met=case["ours_s"] < target and ratio > 1,
                baseline=f"scikit-learn haversine/ball tree {case['sklearn_s']:.2f} s",
                note=f"ratio {ratio:.1f}x; clusters {case['ours_clusters']} vs "
                f"{case['sklearn_clusters']}",
            )
        )
    gi = data["gi"]
    print(f"Gi*: {gi['cells']:,} cells in {gi['seconds']:.2f} s", flush=True)
    results.append(
        Result(
            NAME,
            f"H3 (res 9) aggregation + Gi* 999 permutations, {gi['cells']:,} cells",
            gi["seconds"],
            "s",
            target="< 5 s for ~30,000 cells",
            met=gi["seconds"] < 5,
            note=f"{gi['points']:,} reports, {gi['hot']:,} hot cells",
        )
    )
    api = _subprocess("api", DEMO_URL)
    for label, figures in api.items():
        print(f"API {label}: {figures['median_ms']:.0f} ms", flush=True)
        results.append(
            Result(
                NAME,
                f"dashboard API, demo year: {label}",
                figures["median_ms"],
                "ms",
                target="< 300 ms",
                met=figures["median_ms"] < 300,
                note=f"median of {API_CALLS}, {figures['bytes']:,} bytes",
            )
        )
    return results


if __name__ == "__main__":
    part = sys.argv[1]
    print(json.dumps({"dbscan": part_dbscan, "api": part_api}[part]()))
