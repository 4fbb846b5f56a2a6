"""Dispatch: what routing a new report to a crew adds to an intake request.

Target (issue 4): dispatch adds under 10 ms to an intake request. Measured side by side in the
same process and run: `POST /api/v1/reports/` through Django's full request path (middleware,
DRF, the intake service, the database; no HTTP server, so the figures are the application's own
time) with dispatch on, and the same request with dispatch off (settings.
GEO_OPS_DISPATCH_ON_INTAKE = False), interleaved request by request so that machine noise falls
on both alike. "Dispatch" here is everything fieldteams adds to intake: the SLA due time on the
business calendar, the eligibility/workload/distance statement, the assignment, the report's
update and the two audit events.

Set-up, on a database of its own (BENCH_DISPATCH_DATABASE_URL, default geo_ops_bench_dispatch on
DATABASE_URL's server): `scripts/setup_db.py` (migrations, categories, boundaries, calendar,
departments and the 33 demo crews), the demo year (17,534 reports; re-running adds nothing),
then `dispatch_backlog` gives the demo's open reports to crews, so crews carry real workloads
when intake is measured (its time is reported too). Capacities are then raised by the number of
reports the measurement adds, so that every measured intake takes the full assignment path.

Also reported: report_dispatch alone (called directly on stored reports, the same work as above
without the HTTP layer), and the backlog's throughput.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time

from bench import harness
from bench.common import Result

NAME = "dispatch"
TARGET_MS = 10.0
REQUESTS = int(os.environ.get("BENCH_DISPATCH_REQUESTS", 400))  # per variant
WARMUP = 30
DATABASE_URL = harness.database_url("BENCH_DISPATCH_DATABASE_URL", "geo_ops_bench_dispatch")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure() -> dict:
    """In the bench database's process: the side-by-side figures, as a dict."""
    harness.django_setup()
    from django.db.models.functions import Now
    from django.test import Client
    from django.test.utils import override_settings

    from fieldteams.models import ACTIVE_STATES, Assignment, AssignmentState, Crew
    from fieldteams.services import dispatch_backlog, report_dispatch
    from geo_ops.reports.models import OPEN_STATUSES, Category, Report, Status

    # The reports an earlier run added are done: crews start from the demo's workload each run.
    Assignment.objects.filter(report__description="bench", state__in=ACTIVE_STATES).update(
        state=AssignmentState.COMPLETED
    )
    Report.objects.filter(description="bench", status__in=OPEN_STATUSES).update(
        status=Status.CLOSED, closed_at=Now()
    )
    started = time.perf_counter()
    backlog = dispatch_backlog()
    backlog_s = time.perf_counter() - started
    open_jobs = Assignment.objects.filter(state__in=ACTIVE_STATES).count()

    # Room for every measured report, so that each one takes the full assignment path.
    Crew.objects.update(capacity_per_shift=1000)
    # A new seed each run: the same points again would all be duplicates of the last run's.
    rng = random.Random(Report.objects.count())
    depots = [(c.depot.x, c.depot.y) for c in Crew.objects.all()]
    codes = list(Category.objects.filter(parent__isnull=False).values_list("code", flat=True))

    def body() -> dict:
        lon, lat = rng.choice(depots)
        # Within about a kilometre of a depot (a coastal one's may reach the sea: retried).
        return {
            "category": rng.choice(codes),
            "lat": lat + rng.uniform(-0.008, 0.008),
            "lon": lon + rng.uniform(-0.008, 0.008),
            "description": "bench",
            "channel": "hotline_940",
        }

    client = Client(HTTP_HOST="127.0.0.1")
    timings: dict[str, list[float]] = {"with": [], "without": []}
    statuses: dict[str, dict[str, int]] = {"with": {}, "without": {}}
    undispatched: list[int] = []
    for n in range(WARMUP + REQUESTS):
        for variant in ("with", "without") if n % 2 else ("without", "with"):
            payload = json.dumps(body())
            with override_settings(GEO_OPS_DISPATCH_ON_INTAKE=variant == "with"):
                t0 = time.perf_counter()
                response = client.post("/api/v1/reports/", payload, content_type="application/json")
                elapsed = (time.perf_counter() - t0) * 1000
            while response.status_code == 400 and b"outside the service area" in response.content:
                # A coastal depot's neighbourhood reaches into the sea: another point, untimed,
                # then the timed request again.
                payload = json.dumps(body())
                with override_settings(GEO_OPS_DISPATCH_ON_INTAKE=variant == "with"):
                    t0 = time.perf_counter()
                    response = client.post(
                        "/api/v1/reports/", payload, content_type="application/json"
                    )
                    elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code not in (200, 201):
                raise RuntimeError(f"intake failed: {response.status_code} {response.content!r}")
            if n >= WARMUP:
                timings[variant].append(elapsed)
                status = response.json()["status"]
                statuses[variant][status] = statuses[variant].get(status, 0) + 1
                if variant == "without" and status == Status.NEW:
                    undispatched.append(response.json()["id"])

    # report_dispatch alone, on the reports this run stored without it.
    waiting = list(
        Report.objects.select_related("category", "subcategory", "branch")
        .defer("branch__geom")
        .filter(pk__in=undispatched)
        .order_by("id")
    )
    alone = []
    for report in waiting:
        t0 = time.perf_counter()
        report_dispatch(report=report)
        alone.append((time.perf_counter() - t0) * 1000)
    duplicate = _duplicate_check(rng=rng, depots=depots)
    return {
        "duplicate": duplicate,
        "with": timings["with"],
        "without": timings["without"],
        "statuses": statuses,
        "alone": alone,
        "backlog": {
            "considered": backlog.considered,
            "assigned": backlog.assigned,
            "seconds": backlog_s,
        },
        "open_jobs_before": open_jobs,
        "reports": Report.objects.count(),
    }


def _duplicate_check(*, rng, depots) -> dict:
    """The intake's duplicate query against the same query without its bounding-box prefilter
    (what ST_DWithin on geography alone gives: no index, every row of the category tested)."""
    from django.db import connection

    from geo_ops.reports.models import OPEN_STATUSES, Category
    from geo_ops.reports.services import DUPLICATE_SQL, _degrees_margin

    naive_sql = DUPLICATE_SQL.replace(
        "WHERE r.location && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), "
        "%(dx)s, %(dy)s)\n  AND ST_DWithin(",
        "WHERE ST_DWithin(",
    )
    assert naive_sql != DUPLICATE_SQL
    categories = list(Category.objects.filter(parent__isnull=False).select_related("parent"))
    timings: dict[str, list[float]] = {"indexed": [], "naive": []}
    with connection.cursor() as cursor:
        for n in range(200):
            lon, lat = rng.choice(depots)
            sub = rng.choice(categories)
            dx, dy = _degrees_margin(radius_m=sub.duplicate_radius_m, lat=lat)
            params = {
                "lon": lon + rng.uniform(-0.008, 0.008),
                "lat": lat + rng.uniform(-0.008, 0.008),
                "dx": dx,
                "dy": dy,
                "radius": sub.duplicate_radius_m,
                "category": sub.parent_id,
                "subcategory": sub.pk,
                "open": tuple(str(s) for s in OPEN_STATUSES),
                # The whole table, not a week: the demo year's open reports all count.
                "since": "2000-01-01",
            }
            for name, sql in (("indexed", DUPLICATE_SQL), ("naive", naive_sql)):
                t0 = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                if n >= 10:
                    timings[name].append((time.perf_counter() - t0) * 1000)
    return timings


def run() -> list[Result]:
    print(f"   database {harness.dbname(DATABASE_URL)}: set-up and demo year", flush=True)
    harness.database_setup(DATABASE_URL, field_teams=True)
    env = harness.env(DATABASE_URL)
    harness.manage("generate_demo_data", "--year", "2025", env=env)
    data = json.loads(harness.python("-m", "bench.dispatch", "measure", env=env).splitlines()[-1])
    with_ms, without_ms, alone = data["with"], data["without"], data["alone"]
    median_with, median_without = statistics.median(with_ms), statistics.median(without_ms)
    overhead_median = median_with - median_without
    overhead_mean = statistics.fmean(with_ms) - statistics.fmean(without_ms)
    overhead_p95 = _percentile(with_ms, 0.95) - _percentile(without_ms, 0.95)
    backlog = data["backlog"]
    context = (
        f"{len(with_ms)} requests each, interleaved; {data['reports']:,} reports in the table, "
        f"{data['open_jobs_before']:,} open jobs on 33 crews before; statuses with dispatch: "
        f"{data['statuses']['with']}"
    )
    duplicate = data["duplicate"]
    return [
        Result(
            NAME,
            "duplicate check at intake (median)",
            statistics.median(duplicate["indexed"]),
            "ms",
            baseline=f"geography ST_DWithin without the bbox prefilter: "
            f"{statistics.median(duplicate['naive']):.2f} ms",
            note="GiST index through `location && ST_Expand(point, dx, dy)`, then the exact "
            "geography test; over every open report of the table",
        ),
        Result(
            NAME,
            "dispatch overhead per intake request (median)",
            overhead_median,
            "ms",
            target=f"< {TARGET_MS:g} ms",
            met=overhead_median < TARGET_MS,
            baseline=f"intake without dispatch: median {median_without:.2f} ms",
            note=context,
        ),
        Result(
            NAME,
            "dispatch overhead per intake request (mean / p95)",
            overhead_mean,
            "ms",
            target=f"< {TARGET_MS:g} ms",
            met=overhead_mean < TARGET_MS,
            baseline=f"p95 with {_percentile(with_ms, 0.95):.2f} ms, without "
            f"{_percentile(without_ms, 0.95):.2f} ms (p95 difference {overhead_p95:.2f} ms)",
        ),
        Result(
            NAME,
            "intake request with dispatch (median)",
            median_with,
            "ms",
            baseline=f"without: {median_without:.2f} ms",
        ),
        Result(
            NAME,
            "report_dispatch alone (median / p95)",
            statistics.median(alone),
            "ms",
            target=f"< {TARGET_MS:g} ms",
            met=statistics.median(alone) < TARGET_MS,
            note=f"p95 {_percentile(alone, 0.95):.2f} ms over {len(alone)} stored reports",
        ),
        Result(
            NAME,
            "dispatch_backlog throughput",
            backlog["considered"] / backlog["seconds"] if backlog["seconds"] else 0.0,
            "reports/s",
            note=(
                f"{backlog['considered']:,} waiting reports, {backlog['assigned']:,} assigned "
                f"(the rest: crews full), {backlog['seconds']:.1f} s"
                if backlog["considered"]
                else "nothing was waiting (dispatched by an earlier run)"
            ),
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["measure"]:
        print(json.dumps(measure()))
    else:
        for result in run():
            print(result.row())
