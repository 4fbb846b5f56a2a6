"""Route plans through the whole planner, from the database (fieldteams.routing).

Target (issue 6): a municipal-size plan, 300 jobs for 12 crews of one department in one branch,
a third of them due during the day (hard windows), in at most 30 s, feasible. Measured end to
end with `route_plan_create`: reading crews, shifts and jobs, learning service times from past
completions (one grouped median statement), travel matrices, the solver, the break placement,
storing routes and stops, and re-checking the stored plan (fieldteams.routing.validate); the
solver's own check (fieldteams.routing.checks) runs inside too.

Side by side, in the same run: what a crew does by hand, each crew its own jobs in
nearest-neighbour order until the shift is full (how many jobs fit, how many km); the travel
matrix from numpy haversine (the default provider) against one PostGIS statement on geography
over all pairs (the alternative the provider's docstring weighs); and a cleanup round (4 trucks
of 12 load units, a disposal site, 100 bins) to show the mid-shift disposal trips.

Data: a database of its own (BENCH_ROUTES_DATABASE_URL, default geo_ops_bench_routes on
DATABASE_URL's server) prepared by scripts/setup_db.py; the bench's department, crews, reports
and jobs are made inside a transaction that is rolled back, so nothing stays behind. The jobs lie
in eight neighbourhoods of inland Dammam (fixed seed); 1/3 are due at 09:00, 11:00, 13:00 or
15:00 of the plan day; service times are learnt from 90 completed jobs of the three
subcategories (medians 14-19 minutes): more work than 12 shifts hold, so the plan has to leave
jobs out, and which it leaves out (priorities, reasons) is reported.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import timedelta

from bench import harness
from bench.common import Result

TARGET_S = 30.0
SEARCH_S = float(os.environ.get("BENCH_ROUTES_SEARCH_S", 20.0))
JOBS, CREWS = 300, 12
SEED = 940
DATABASE_URL = harness.database_url("BENCH_ROUTES_DATABASE_URL", "geo_ops_bench_routes")


# --- inside the bench process (Django set up on the bench database) ------------------------------


class _Rollback(Exception):
    pass


def _points_in_branch(branch, candidates):
    """The candidates (lon, lat) inside the branch, in one statement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(x, y, i)
            WHERE ST_Contains(%s::geometry, ST_SetSRID(ST_MakePoint(x, y), 4326))
            ORDER BY i
            """,
            [[p[0] for p in candidates], [p[1] for p in candidates], branch.geom.ewkt],
        )
        keep = [row[0] - 1 for row in cursor.fetchall()]
    return [candidates[i] for i in keep]


def _scenario(*, jobs: int, crews: int, trucks: bool, seed: int):
    """Department, crews, reports and their jobs (and history) for the plan day."""
    import numpy as np
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from fieldteams.models import Assignment, Department, DisposalSite
    from fieldteams.routing.inputs import day_origin
    from geo_ops.reports.models import Category, Report, Status
    from layers.models import BranchMunicipality

    rng = np.random.default_rng(seed)
    branch = BranchMunicipality.objects.get(code="dammam")
    today = timezone.localdate()
    plan_day = today + timedelta(days=(6 - today.weekday()) % 7 + 7)  # a Sunday ahead
    origin = day_origin(plan_day)
    if trucks:
        skill = Category.objects.get(code="public_cleanliness")
        subs = list(Category.objects.filter(code__in=["overflowing_bins", "litter"]))
    else:
        skill = Category.objects.get(code="roads_networks")
        subs = list(
            Category.objects.filter(code__in=["pothole", "damaged_sidewalk", "stormwater_drain"])
        )
    code = "bench-clean" if trucks else "bench-roads"
    department = Department.objects.create(code=code, name_en=code, name_ar=code)
    # Eight neighbourhoods of inland Dammam; every point is checked against the boundary.
    centres = rng.uniform([49.96, 26.33], [50.10, 26.44], size=(8, 2))
    spread = 0.012
    candidates = [
        tuple(centres[rng.integers(0, 8)] + rng.normal(0, spread, 2)) for _ in range(3 * jobs)
    ]
    inside = _points_in_branch(branch, [(float(x), float(y)) for x, y in candidates])
    points, depots = inside[:jobs], inside[jobs : jobs + crews]
    crew_rows = _crews(
        code=code, department=department, depots=depots, skill=skill, branch=branch, trucks=trucks
    )
    if trucks:
        DisposalSite.objects.create(
            code="bench-landfill",
            name_en="Landfill",
            name_ar="مردم",
            location=Point(*inside[jobs + crews], srid=4326),
            unload_minutes=15,
        )
    priorities = rng.choice([1, 2, 3, 4], size=jobs, p=[0.25, 0.45, 0.2, 0.1])
    reports = []
    for i, (lon, lat) in enumerate(points):
        due = None
        if i % 3 == 0:
            due = origin + timedelta(hours=int(rng.choice([9, 11, 13, 15])))
        else:
            due = origin + timedelta(days=3)
        reports.append(
            Report(
                category=skill,
                subcategory=subs[i % len(subs)],
                location=Point(lon, lat, srid=4326),
                channel="app",
                status=Status.ASSIGNED,
                priority=int(priorities[i]),
                branch=branch,
                due_at=due,
                description=f"bench job {i}",
            )
        )
    reports = Report.objects.bulk_create(reports)
    depot_xy = np.array(depots)
    jobs_rows = []
    for report in reports:
        d = np.hypot(*(depot_xy - [report.location.x, report.location.y]).T)
        jobs_rows.append(Assignment(report=report, crew=crew_rows[int(d.argmin())], reason="bench"))
    Assignment.objects.bulk_create(jobs_rows)
    _history(rng=rng, skill=skill, subs=subs, points=points, branch=branch, crew=crew_rows[0])
    return department, branch, plan_day, crew_rows, reports


def _crews(*, code: str, department, depots, skill, branch, trucks: bool) -> list:
    """One crew at each depot, with the skill and the branch (and a truck for a cleanup)."""
    from django.contrib.gis.geos import Point

    from fieldteams.models import Crew, CrewRouting

    crew_rows = []
    for n, depot in enumerate(depots, start=1):
        crew = Crew.objects.create(
            code=f"{code}-{n:02d}",
            name_en=f"{code} {n}",
            name_ar=f"{code} {n}",
            department=department,
            depot=Point(*depot, srid=4326),
            capacity_per_shift=200,
        )
        crew.skills.set([skill])
        crew.branches.set([branch])
        if trucks:
            CrewRouting.objects.create(crew=crew, vehicle_type="truck", load_capacity=12)
        crew_rows.append(crew)
    return crew_rows


def _history(*, rng, skill, subs, points, branch, crew) -> None:
    """30 completed jobs per subcategory, their durations around the subcategory's median (the
    planner learns service times from them)."""
    from django.contrib.gis.geos import Point
    from django.utils import timezone

    from fieldteams.models import Assignment, AssignmentState
    from geo_ops.reports.models import Report, Status

    now = timezone.now()
    history = Report.objects.bulk_create(
        Report(
            category=skill,
            subcategory=subs[k % len(subs)],
            location=Point(*points[k % len(points)], srid=4326),
            channel="app",
            status=Status.CLOSED,
            branch=branch,
            description="bench history",
        )
        for k in range(30 * len(subs))
    )
    medians = {sub.pk: 14 + 2.5 * n for n, sub in enumerate(subs)}
    Assignment.objects.bulk_create(
        Assignment(
            report=r,
            crew=crew,
            reason="bench",
            state=AssignmentState.COMPLETED,
            started_at=now - timedelta(days=5, minutes=float(medians[r.subcategory_id] + dev)),
            completed_at=now - timedelta(days=5),
        )
        for r, dev in zip(history, rng.normal(0, 3, len(history)), strict=True)
    )


def _by_hand(crews, plan_day) -> tuple[int, float]:
    """Each crew its own jobs, nearest first, while it can still be back by the shift end and
    meet the job's due time: how many jobs fit in the day and the km driven."""
    from fieldteams.routing import inputs
    from fieldteams.routing.travel import travel_times

    provider = travel_times()
    crew_in = inputs.crew_inputs(crews=crews, plan_date=plan_day)
    origin = inputs.day_origin(plan_day)
    learned = inputs.learned_service_minutes(
        category_ids=frozenset().union(*(c.skill_ids for c in crew_in))
    )
    served, metres = 0, 0.0
    for crew in crew_in:
        stops = inputs.stops_for_jobs(
            jobs=inputs.crew_jobs_for_plan(crews=[crew.crew]), learned=learned
        )
        m = provider.matrices(points=[crew.depot] + [s.point for s in stops], vehicle_type="van")
        t = (crew.shift.start - origin).total_seconds()
        end = (crew.shift.end - origin).total_seconds() - crew.break_rule.minutes * 60
        here, todo = 0, set(range(1, len(stops) + 1))
        while todo:
            best = None
            for j in sorted(todo, key=lambda j: m.distances_m[here, j]):
                stop = stops[j - 1]
                arrive = t + m.durations_s[here, j]
                done = arrive + stop.service_s
                if done + m.durations_s[j, 0] > end:
                    continue
                if stop.due_at and done > (stop.due_at - origin).total_seconds():
                    continue
                best = (j, done)
                break
            if best is None:
                break
            j, t = best
            metres += m.distances_m[here, j]
            here = j
            todo.discard(j)
            served += 1
        metres += m.distances_m[here, 0]
    return served, metres


def _plan(*, trucks: bool, jobs: int, crews: int, search_s: float) -> dict:
    from django.db import transaction

    from fieldteams.models import RouteStop, StopKind
    from fieldteams.routing.services import route_plan_create

    out: dict = {}
    try:
        with transaction.atomic():
            department, branch, plan_day, crew_rows, _reports = _scenario(
                jobs=jobs, crews=crews, trucks=trucks, seed=SEED
            )
            started = time.perf_counter()
            plan = route_plan_create(
                plan_date=plan_day,
                department=department,
                branch=branch,
                options={"time_limit_s": search_s},
                actor_label="bench",
            )
            out["seconds"] = time.perf_counter() - started
            out["status"] = plan.status
            out["error"] = plan.error
            out["check_errors"] = plan.check_errors[:5]
            out["planned"] = plan.jobs_planned
            out["dropped"] = plan.jobs_dropped
            out["reasons"] = dict(Counter(plan.drops.values_list("reason", flat=True)))
            out["dropped_priorities"] = dict(
                Counter(str(p) for p in plan.drops.values_list("priority", flat=True))
            )
            out["km"] = plan.distance_m / 1000
            out["routes"] = plan.routes.count()
            out["disposal_visits"] = RouteStop.objects.filter(
                route__plan=plan, kind=StopKind.DISPOSAL
            ).count()
            out["late"] = RouteStop.objects.filter(route__plan=plan, late=True).count()
            out["solver_ms"] = plan.runtime_ms
            if not trucks:
                served, metres = _by_hand(crew_rows, plan_day)
                out["by_hand"] = {"served": served, "km": metres / 1000}
            raise _Rollback
    except _Rollback:
        pass
    return out


def _matrices(n: int = 324) -> dict:
    import numpy as np

    from fieldteams.routing.travel import GreatCircleTravelTimes, PostgisTravelTimes

    rng = np.random.default_rng(SEED)
    points = [(float(x), float(y)) for x, y in rng.uniform([49.95, 26.3], [50.15, 26.46], (n, 2))]
    timings = {}
    results = {}
    for provider in (GreatCircleTravelTimes(), PostgisTravelTimes()):
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            results[provider.name] = provider.matrices(points=points, vehicle_type="van")
            runs.append(time.perf_counter() - started)
        timings[provider.name] = statistics.median(runs) * 1000
    a = results["great-circle"].distances_m.astype(float)
    b = results["postgis-geography"].distances_m.astype(float)
    mask = b > 500
    return {
        "n": n,
        "numpy_ms": timings["great-circle"],
        "postgis_ms": timings["postgis-geography"],
        "max_diff_pct": float(np.max(np.abs(a[mask] - b[mask]) / b[mask]) * 100),
    }


def measure() -> dict:
    from django.conf import settings

    settings.GEO_OPS_ROUTE_SERVICE_MINUTES = {"default": 12}
    return {
        "municipal": _plan(trucks=False, jobs=JOBS, crews=CREWS, search_s=SEARCH_S),
        "cleanup": _plan(trucks=True, jobs=100, crews=4, search_s=5.0),
        "matrices": _matrices(),
    }


# --- the runner's side ---------------------------------------------------------------------------


def run() -> list[Result]:
    print("   preparing the bench database (scripts/setup_db.py)", flush=True)
    harness.database_setup(DATABASE_URL, field_teams=True)
    output = harness.python("-m", "bench.routes", "measure", env=harness.env(DATABASE_URL))
    figures = json.loads(output.splitlines()[-1])
    m, c, t = figures["municipal"], figures["cleanup"], figures["matrices"]
    feasible = m["status"] == "done" and not m["check_errors"]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(m["reasons"].items())) or "none"
    by_hand = m.get("by_hand", {})
    return [
        Result(
            "routes",
            f"municipal plan from the DB: {JOBS} jobs, {CREWS} crews, 1/3 due that day",
            m["seconds"],
            "s",
            f"<= {TARGET_S:g} s, feasible",
            m["seconds"] <= TARGET_S and feasible,
            f"by hand (own jobs, nearest first): {by_hand.get('served')} jobs fit, "
            f"{by_hand.get('km', 0):.0f} km",
            f"search {SEARCH_S:g} s; {m['planned']} planned, {m['dropped']} left out "
            f"({reasons}; priorities {m['dropped_priorities']}), {m['km']:.0f} km, "
            f"{m['late']} late; checks: {'ok' if feasible else m['check_errors'] or m['error']}",
        ),
        Result(
            "routes",
            "cleanup round: 100 bins, 4 trucks of 12, disposal trips",
            c["seconds"],
            "s",
            "feasible",
            c["status"] == "done" and not c["check_errors"],
            "",
            f"{c['planned']} planned, {c['dropped']} left out, {c['disposal_visits']} disposal "
            f"visits, {c['km']:.0f} km",
        ),
        Result(
            "routes",
            f"travel matrix {t['n']} x {t['n']}: numpy haversine",
            t["numpy_ms"],
            "ms",
            "",
            None,
            f"PostGIS geography, one statement: {t['postgis_ms']:.0f} ms",
            f"largest difference {t['max_diff_pct']:.2f} % (sphere vs spheroid, pairs > 500 m)",
        ),
    ]


if __name__ == "__main__" and sys.argv[1:] == ["measure"]:
    harness.django_setup()
    print(json.dumps(measure()))
