"""Benchmark: the public open-issues map with 1,000,000 open reports in the database.

Target (issue 3): the page becomes usable in under 2 s: the HTML, Leaflet and the first data of
the view drawn in a real headless Chromium (the distribution's package), with the site served as
in production (gunicorn, 2 workers, the project's gunicorn settings, WhiteNoise static files).

Also measured, side by side in the same run:
- the map data endpoint per zoom level (median and slowest of several views);
- the rebuild of the per-cell summary (`manage.py refresh_public_map`);
- baseline 1, what a simple page would do (every open point as GeoJSON, e.g. a folium GeoJson
  or MarkerCluster layer, or the paginated API read to the end): the time PostgreSQL alone takes
  to write that GeoJSON, and its size; the browser would then have to parse and draw it;
- baseline 2, the grid counted live over all open reports (no summary), as the endpoint would
  do without it.

The reports go into a database of their own (BENCH_MAP_DATABASE_URL, default geo_ops_bench_map
on DATABASE_URL's server), generated set-based in SQL; a later run with the same size reuses
them. BENCH_MAP_REPORTS changes the size.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from bench import harness
from bench.bulk_import import CENTRES, SUBCATEGORIES, UNIFORM_SHARE
from bench.common import Result

NAME = "public_map"
REPORTS = int(os.environ.get("BENCH_MAP_REPORTS", "1000000"))
TARGET_USABLE_S = 2.0
PAGE_LOADS = 5
CHROMIUM = os.environ.get("GEO_OPS_CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TILE_HOST = "tiles.bench.invalid"
# Views of the data endpoint: (label, zoom, bbox) for a 1280x800 px window.
VIEWS = [
    ("province z8", 8, (46.5, 24.0, 52.5, 29.0)),
    ("metro z10", 10, (49.6, 26.0, 50.6, 26.7)),
    ("city z12", 12, (49.95, 26.33, 50.25, 26.52)),
    ("district z14", 14, (50.06, 26.40, 50.14, 26.45)),
    ("street z16", 16, (50.095, 26.425, 50.115, 26.437)),
]
REQUESTS_PER_VIEW = 12
DATABASE_URL = harness.database_url("BENCH_MAP_DATABASE_URL", "geo_ops_bench_map")
# The basemap's tiles come from a host the browser's requests are answered for (see _page_loads).
TILE_URL = f"http://{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"


# --------------------------------------------------------------------------- data


def _prepare_database() -> float:
    """Create and migrate the bench database; seed REPORTS open reports unless already there.

    Returns the seconds seeding took (0 when the reports were reused).
    """
    import psycopg2

    harness.database_setup(DATABASE_URL)
    marker = f"bench public_map: {REPORTS} open reports"
    with psycopg2.connect(harness.dsn(DATABASE_URL)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT obj_description('reports_report'::regclass, 'pg_class')")
        if cursor.fetchone()[0] == marker:
            return 0.0
    started = time.perf_counter()
    _seed(marker)
    return time.perf_counter() - started


def _seed(marker: str) -> None:
    """REPORTS open reports, set-based in SQL: around the urban centres (normal spread) plus a
    uniform share over the province, categories by the seed report's shares."""
    import psycopg2

    weights = [c[2] for c in CENTRES] + [UNIFORM_SHARE]
    total = sum(weights)
    centres, low = [], 0.0
    for lon, lat, weight, spread in CENTRES:
        centres.append((low, low + weight / total, lon, lat, spread))
        low += weight / total
    subcategory_rows, low = [], 0.0
    category_total = sum(share for share, _subs in SUBCATEGORIES.values())
    for share, subs in SUBCATEGORIES.values():
        for code in subs:
            width = share / category_total / len(subs)
            subcategory_rows.append((low, low + width, code))
            low += width
    with psycopg2.connect(harness.dsn(DATABASE_URL)) as conn, conn.cursor() as cursor:
        cursor.execute("TRUNCATE reports_report, maps_publicmapcell, maps_publicmapsummary CASCADE")
        cursor.execute(
            "CREATE TEMP TABLE bench_centre (lo float8, hi float8, lon float8, lat float8, "
            "spread float8)"
        )
        cursor.executemany("INSERT INTO bench_centre VALUES (%s, %s, %s, %s, %s)", centres)
        cursor.execute(
            """
            CREATE TEMP TABLE bench_sub AS
            SELECT v.lo, v.hi, c.id AS sub_id, c.parent_id
            FROM (SELECT unnest(%s::float8[]) lo, unnest(%s::float8[]) hi,
                         unnest(%s::text[]) code) v
            JOIN reports_category c ON c.code = v.code
            """,
            (
                [r[0] for r in subcategory_rows],
                [r[1] for r in subcategory_rows],
                [r[2] for r in subcategory_rows],
            ),
        )
        cursor.execute("SELECT setseed(0.94)")
        # Box-Muller for the normal spread around a centre; rows past the last centre's share
        # are spread uniformly over the province's box. created_at grows with the id, as when
        # reports arrive over a year.
        cursor.execute(
            """
            WITH draws AS (
                SELECT g, random() AS pick, random() AS u1, random() AS u2, random() AS kind,
                       random() AS st
                FROM generate_series(1, %(n)s) AS g
            )
            INSERT INTO reports_report
                (category_id, subcategory_id, location, address, description, media_url,
                 channel, status, priority, created_at, updated_at)
            SELECT s.parent_id, s.sub_id,
                   ST_SetSRID(ST_MakePoint(
                       CASE WHEN c.lon IS NULL THEN 47.5 + 3.0 * d.u1
                            ELSE c.lon + c.spread * sqrt(-2 * ln(1 - d.u1)) * cos(2 * pi() * d.u2)
                       END,
                       CASE WHEN c.lat IS NULL THEN 25.0 + 3.5 * d.u2
                            ELSE c.lat + c.spread * sqrt(-2 * ln(1 - d.u1)) * sin(2 * pi() * d.u2)
                       END), 4326),
                   '', '', '', 'app',
                   CASE WHEN d.st < 0.3 THEN 'new' WHEN d.st < 0.7 THEN 'assigned'
                        ELSE 'in_progress' END,
                   2,
                   now() - (%(n)s - d.g) * interval '30 seconds',
                   now() - (%(n)s - d.g) * interval '30 seconds'
            FROM draws d
            LEFT JOIN bench_centre c ON d.pick >= c.lo AND d.pick < c.hi
            JOIN bench_sub s ON d.kind >= s.lo AND d.kind < s.hi
            ORDER BY d.g
            """,
            {"n": REPORTS},
        )
        cursor.execute(f"COMMENT ON TABLE reports_report IS '{marker}'")
    conn = psycopg2.connect(harness.dsn(DATABASE_URL))
    conn.autocommit = True  # VACUUM cannot run in a transaction
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reports_report")
    conn.close()


def _baselines() -> dict[str, float]:
    """What the page would cost without the endpoint's aggregation, timed in PostgreSQL."""
    import psycopg2

    open_statuses = "('new', 'assigned', 'in_progress')"
    out = {}
    with psycopg2.connect(harness.dsn(DATABASE_URL)) as conn, conn.cursor() as cursor:
        cursor.execute("SET jit = off")
        started = time.perf_counter()
        cursor.execute(
            "SELECT sum(length(f)) FROM (SELECT json_build_object('type', 'Feature', "
            "'geometry', ST_AsGeoJSON(location, 6)::json, 'properties', json_build_object("
            "'t', tracking_number, 'c', category_id, 'st', status, 'd', created_at::date))::text f"
            f" FROM reports_report WHERE status IN {open_statuses}) AS features"
        )
        out["geojson_bytes"] = float(cursor.fetchone()[0] or 0)
        out["geojson_s"] = time.perf_counter() - started
        started = time.perf_counter()
        # The endpoint's grid at the province view, counted live: coarsening included.
        cursor.execute(
            f"""
            SELECT count(*) FROM (
                SELECT floor(ST_X(p) / 0.32), floor(ST_Y(p) / 0.32), category_id, count(*),
                       sum(ST_X(p)), sum(ST_Y(p))
                FROM (SELECT r.category_id,
                             CASE WHEN c.public_visibility = 'coarse'
                                  THEN ST_Transform(ST_SnapToGrid(
                                           ST_Transform(r.location, 32639), 100), 4326)
                                  ELSE r.location END AS p
                      FROM reports_report r JOIN reports_category c ON c.id = r.category_id
                      WHERE r.status IN {open_statuses}) AS located
                GROUP BY 1, 2, 3) AS cells
            """
        )
        out["live_grid_s"] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------- serving


class _Site:
    """The project served as in production: gunicorn with its settings, 2 workers."""

    def __init__(self, tmp: Path):
        env = harness.env(
            DATABASE_URL,
            production=True,
            GEO_OPS_TILE_URL=TILE_URL,
            DJANGO_STATIC_ROOT=str(tmp / "static"),
            DJANGO_SECURE_COOKIES="false",
        )
        harness.manage("collectstatic", "--noinput", "-v", "0", env=env)
        self.server = harness.Gunicorn(
            "geo_ops.wsgi",
            env=env,
            log=tmp / "gunicorn.log",
            args=["-c", "python:geo_ops.settings.gunicorn", "--workers", "2"],
        )
        self.url = self.server.url
        self.server.wait_ready("/maps/branches.geojson")

    def get_ms(self, path: str) -> float:
        started = time.perf_counter()
        with urlopen(self.url + path, timeout=30) as response:
            response.read()
        return (time.perf_counter() - started) * 1000

    def stop(self) -> None:
        self.server.stop()


def _page_loads(site: _Site) -> list[float]:
    """Seconds from navigation to the first data drawn on the map, each in a fresh context."""
    import io

    from PIL import Image
    from playwright.sync_api import sync_playwright

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (238, 240, 234)).save(buffer, format="PNG")
    tile = buffer.getvalue()
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(PAGE_LOADS):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            # The basemap is not part of what is measured: its server answers at once.
            context.route(
                f"http://{TILE_HOST}/**",
                lambda route: route.fulfill(body=tile, content_type="image/png"),
            )
            page = context.new_page()
            started = time.perf_counter()
            page.goto(site.url + "/")
            page.wait_for_function(
                "Number(document.body.getAttribute('data-map-loads') || 0) > 0", timeout=30_000
            )
            times.append(time.perf_counter() - started)
            context.close()
        browser.close()
    return times


def _endpoint(site: _Site) -> dict[str, list[float]]:
    out = {}
    for label, zoom, (w, s, e, n) in VIEWS:
        timings = []
        for i in range(REQUESTS_PER_VIEW):
            # Shift each view a little, as a user panning does.
            dx = (e - w) * 0.02 * i
            bbox = f"{w + dx:.5f},{s:.5f},{e + dx:.5f},{n:.5f}"
            timings.append(site.get_ms(f"/maps/open-reports.json?bbox={bbox}&zoom={zoom}"))
        out[label] = timings
    return out


# --------------------------------------------------------------------------- the run


def run() -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-public-map-"))
    try:
        seeded_s = _prepare_database()
        output = harness.manage(
            "refresh_public_map", env=harness.env(DATABASE_URL, GEO_OPS_TILE_URL=TILE_URL)
        )
        match = re.search(r"(\d+) open reports in (\d+) cells \((\d+) ms\)", output)
        reports, cells, refresh_ms = (int(g) for g in match.groups())
        baselines = _baselines()
        site = _Site(tmp)
        try:
            site.get_ms("/")  # warm the workers (imports, connections)
            loads = _page_loads(site)
            endpoint = _endpoint(site)
        finally:
            site.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    worst = max(loads)
    results = [
        Result(
            NAME,
            f"page usable (first data drawn), slowest of {PAGE_LOADS} cold loads",
            worst,
            "s",
            target=f"< {TARGET_USABLE_S:g} s with {REPORTS:,} open reports",
            met=worst < TARGET_USABLE_S,
            baseline=f"every point as GeoJSON: {baselines['geojson_bytes'] / 1e6:,.0f} MB, "
            f"{baselines['geojson_s']:.1f} s in PostgreSQL alone",
            note=f"median {statistics.median(loads):.2f} s; Chromium headless, gunicorn 2 workers",
        )
    ]
    live_ms = baselines["live_grid_s"] * 1000
    for label, timings in endpoint.items():
        median = statistics.median(timings)
        results.append(
            Result(
                NAME,
                f"data endpoint, {label} (median of {len(timings)})",
                median,
                "ms",
                target="< 500 ms",
                met=max(timings) < 500,
                baseline=f"live grid without summary: {live_ms:,.0f} ms"
                if label.startswith("province")
                else "",
                note=f"slowest {max(timings):.0f} ms",
            )
        )
    results.append(
        Result(
            NAME,
            "summary rebuild (refresh_public_map)",
            refresh_ms / 1000,
            "s",
            note=f"{reports:,} open reports into {cells:,} cells; runs in the background when "
            f"older than GEO_OPS_PUBLIC_MAP_SUMMARY_TTL"
            + (f"; seeding took {seeded_s:.0f} s" if seeded_s else ""),
        )
    )
    return results


if __name__ == "__main__":
    for result in run():
        print(result.row())
