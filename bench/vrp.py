"""Route solver (fieldteams.routing, PyVRP) against public benchmarks, OR-Tools side by side.

- Augerat A (27 CVRP instances, 31-79 customers): mean gap to the best known <= 1 %, <= 2 s per
  instance.
- Solomon (six 100-customer VRPTW instances, C101 ... RC201): mean gap <= 3 %, <= 10 s each.
- A municipal-size plan: 300 jobs, 12 crews, a third of the jobs with a 2-hour window, <= 30 s.

The vehicle count of each instance is a hard limit for both solvers (the best-known values hold
under it). OR-Tools runs with its default first-solution strategy and the GUIDED_LOCAL_SEARCH
metaheuristic under the same time limit, vehicle limit, capacities and time windows, on the same
integer matrices. With the plain model OR-Tools' first-solution heuristic often finds nothing
under a tight fleet (the model itself accepts feasible routes: PyVRP's, read in as an assignment,
are feasible for it), so a second OR-Tools run lets it drop any customer at a penalty far above
any detour, the usual workaround; a solution that drops one fails the check. Every solution of
either solver is checked independently (`fieldteams.routing.checks`): each customer once,
capacities, the recomputed schedule against the windows, the vehicle limit, and the distance
recomputed from the coordinates in the file's convention. The data directory is
../shared/data/vrp beside the repository, or $GEO_OPS_VRP_DATA.
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import RESULTS_DIR, Result
from fieldteams.routing.checks import check_solution
from fieldteams.routing.instances import VrpInstance, read_instance
from fieldteams.routing.solver import Solution, solve

DATA_DIR = Path(
    os.environ.get(
        "GEO_OPS_VRP_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "vrp"
    )
)

# Search time given to each solver; the targets are on the wall time per instance (parsing and
# model building included), so the search stops a little before them.
SETS = [
    # (label, folder, glob, search seconds, target seconds, target mean gap %)
    ("Augerat A", "Augerat_A", "*.vrp", 1.75, 2.0, 1.0),
    ("Solomon", "Solomon_100", "*.vrptw", 9.5, 10.0, 3.0),
]
MUNICIPAL_SEARCH_S = 25.0
MUNICIPAL_TARGET_S = 30.0


@dataclass
class Run:
    """One solver on one instance."""

    instance: str
    solver: str
    seconds: float
    distance: float | None  # None: no solution returned
    gap: float | None  # percent over the best known
    errors: list[str]
    routes: int = 0

    @property
    def ok(self) -> bool:
        return self.distance is not None and not self.errors


def ortools_solve(
    *, instance: VrpInstance, time_limit_s: float, drop_penalty: int | None = None
) -> Solution | None:
    """OR-Tools routing: default first solution + guided local search, same limits and data."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    started = time.perf_counter()
    n = instance.dimension
    depot = instance.index(instance.depot)
    vehicles = instance.vehicles if instance.vehicles is not None else n - 1
    manager = pywrapcp.RoutingIndexManager(n, vehicles, depot)
    routing = pywrapcp.RoutingModel(manager)
    distances = instance.distances.tolist()
    arc = routing.RegisterTransitMatrix(distances)
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    demand = routing.RegisterUnaryTransitVector([int(d) for d in instance.demands])
    routing.AddDimensionWithVehicleCapacity(demand, 0, [instance.capacity] * vehicles, True, "Load")
    if instance.time_windows is not None:
        _ortools_time_windows(instance, manager, routing, depot=depot, vehicles=vehicles)
    if drop_penalty is not None:
        for i in range(n):
            if i != depot:
                routing.AddDisjunction([manager.NodeToIndex(i)], drop_penalty)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    )
    remaining = time_limit_s - (time.perf_counter() - started)
    params.time_limit.FromMilliseconds(max(int(remaining * 1000), 10))
    assignment = routing.SolveWithParameters(params)
    if assignment is None:
        return None
    routes, total = _ortools_routes(
        instance, manager, routing, assignment, depot=depot, vehicles=vehicles
    )
    visited = {c for r in routes for c in r}
    return Solution(
        instance=instance.name,
        routes=routes,
        distance=instance.from_units(total),
        distance_units=total,
        feasible=True,
        dropped=[c for c in instance.customers if c not in visited],
        solver="ortools",
    )


def _ortools_time_windows(instance: VrpInstance, manager, routing, *, depot: int, vehicles: int):
    """The Time dimension: transit i -> j = service at i + travel i -> j, the cumul being the
    service start, each customer's window and the depot's on every vehicle's start and end."""
    n = instance.dimension
    units = instance.to_units
    travel = instance.durations if instance.durations is not None else instance.distances
    service = [units(s) for s in instance.service_times or [0] * n]
    times = (np.asarray(travel, dtype=np.int64) + np.asarray(service)[:, None]).tolist()
    windows = [(units(a), units(b)) for a, b in instance.time_windows]
    horizon = windows[depot][1]
    routing.AddDimension(routing.RegisterTransitMatrix(times), horizon, horizon, False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")
    for i in range(n):
        if i != depot:
            time_dim.CumulVar(manager.NodeToIndex(i)).SetRange(*windows[i])
    for v in range(vehicles):
        time_dim.CumulVar(routing.Start(v)).SetRange(*windows[depot])
        time_dim.CumulVar(routing.End(v)).SetRange(*windows[depot])


def _ortools_routes(
    instance: VrpInstance, manager, routing, assignment, *, depot: int, vehicles: int
) -> tuple[list[list[int]], int]:
    """The non-empty routes of an OR-Tools assignment (node ids) and their distance in units."""
    routes: list[list[int]] = []
    total = 0
    for v in range(vehicles):
        index = routing.Start(v)
        route = []
        prev = depot
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node != depot:
                route.append(instance.node_ids[node])
                total += int(instance.distances[prev, node])
                prev = node
            index = assignment.Value(routing.NextVar(index))
        if route:
            total += int(instance.distances[prev, depot])
            routes.append(route)
    return routes, total


def _pyvrp(*, instance: VrpInstance, time_limit_s: float) -> Solution:
    return solve(instance=instance, time_limit_s=time_limit_s, seed=0)


def _ortools_drop(*, instance: VrpInstance, time_limit_s: float) -> Solution | None:
    # Every customer may be dropped at a penalty far above any detour: the usual way to let
    # OR-Tools' first-solution heuristic succeed under a tight fleet. A solution that still
    # drops a customer fails the check (customers are required).
    penalty = 100 * int(instance.distances.max()) * instance.dimension
    return ortools_solve(instance=instance, time_limit_s=time_limit_s, drop_penalty=penalty)


# (key, label, solve function): ours first, then the baselines.
SOLVERS: list[tuple[str, str, Callable[..., Solution | None]]] = [
    ("pyvrp", "PyVRP", _pyvrp),
    ("ortools", "OR-Tools GLS", ortools_solve),
    ("ortools_drop", "OR-Tools GLS + drop penalties", _ortools_drop),
]


def best_known() -> dict[str, float]:
    with open(DATA_DIR / "best_known.csv", newline="") as fh:
        return {row["instance"]: float(row["best_known"]) for row in csv.DictReader(fh)}


def _run_one(path: Path, solver: str, fn, search_s: float, best: dict[str, float]) -> Run:
    started = time.perf_counter()
    instance = read_instance(path)
    try:
        solution = fn(instance=instance, time_limit_s=search_s)
    except Exception as exc:  # a crash of either solver is a failed instance, not a failed bench
        return Run(instance.name, solver, time.perf_counter() - started, None, None, [repr(exc)])
    seconds = time.perf_counter() - started
    if solution is None:
        return Run(instance.name, solver, seconds, None, None, ["no solution found"])
    errors = check_solution(instance, solution)
    if not solution.feasible and not errors:
        errors = ["solver reports an infeasible solution"]
    known = best.get(instance.name)
    gap = 100 * (solution.distance - known) / known if known else None
    return Run(instance.name, solver, seconds, solution.distance, gap, errors, len(solution.routes))


def _summary(runs: list[Run]) -> dict:
    ok = [r for r in runs if r.ok]
    gaps = [r.gap for r in ok if r.gap is not None]
    return {
        "mean_gap": statistics.fmean(gaps) if gaps else float("nan"),
        "max_gap": max(gaps) if gaps else float("nan"),
        "mean_s": statistics.fmean(r.seconds for r in runs),
        "max_s": max(r.seconds for r in runs),
        "failed": [r.instance for r in runs if not r.ok],
    }


def _describe(s: dict) -> str:
    failed = f", failed/infeasible: {', '.join(s['failed'])}" if s["failed"] else ""
    return (
        f"mean gap {_pct(s['mean_gap'])}, max {_pct(s['max_gap'])}, "
        f"{s['mean_s']:.2f} s/instance (max {s['max_s']:.2f}){failed}"
    )


def municipal_instance(*, seed: int = 940) -> VrpInstance:
    """A deterministic municipal day: 300 jobs around a city, 12 crews, 07:00-15:00 shifts.

    Jobs lie in eight neighbourhoods of a 20 x 16 km city with the depot near the centre. Road
    distance is the straight line times a 1.3 detour factor (metres), driving at 25 km/h
    (seconds). Service takes 5-15 minutes; every third job has a 2-hour appointment window;
    each job fills 1-3 units of a 60-unit truck.
    """
    rng = np.random.default_rng(seed)
    jobs, crews = 300, 12
    centres = rng.uniform([2_000, 2_000], [18_000, 14_000], size=(8, 2))
    xy = centres[rng.integers(0, 8, jobs)] + rng.normal(0, 1_500, size=(jobs, 2))
    xy = np.clip(xy, [0, 0], [20_000, 16_000])
    coordinates = np.vstack([[10_000, 8_000], np.round(xy)])
    diff = coordinates[:, None, :] - coordinates[None, :, :]
    distances = np.round(np.hypot(diff[..., 0], diff[..., 1]) * 1.3).astype(np.int64)
    durations = np.round(distances / (25 / 3.6)).astype(np.int64)
    shift = (7 * 3600.0, 15 * 3600.0)
    windows = [shift] * (jobs + 1)
    for job in range(0, jobs, 3):
        start = shift[0] + 3600 * rng.choice([0, 2, 4, 6])
        windows[job + 1] = (start, start + 7200)
    service = [0.0] + [60.0 * m for m in rng.integers(5, 16, jobs)]
    demands = (0, *(int(d) for d in rng.integers(1, 4, jobs)))
    return VrpInstance(
        name=f"municipal-{jobs}-{crews}",
        node_ids=tuple(range(1, jobs + 2)),
        depot=1,
        coordinates=coordinates,
        demands=demands,
        capacity=60,
        vehicles=crews,
        distances=distances,
        durations=durations,
        time_windows=tuple(windows),
        service_times=tuple(service),
    )


def _pct(value: float) -> str:
    return "no solution" if value != value else f"{value:.2f} %"  # NaN: nothing solved


def _baselines(summaries: dict[str, dict], text: Callable[[dict], str]) -> str:
    return "; ".join(f"{label} {text(summaries[key])}" for key, label, _ in SOLVERS[1:])


def _failed(s: dict) -> str:
    return f"{len(s['failed'])}" + (f" ({', '.join(s['failed'])})" if s["failed"] else "")


def run() -> list[Result]:
    best = best_known()
    results: list[Result] = []
    lines = ["| set | instance | best known | solver | distance | gap % | s | routes | check |"]
    lines.append("|---|---|---:|---|---:|---:|---:|---:|---|")
    for label, folder, pattern, search_s, target_s, target_gap in SETS:
        paths = sorted((DATA_DIR / folder).glob(pattern))
        if not paths:
            raise FileNotFoundError(f"no {pattern} files in {DATA_DIR / folder}")
        summaries: dict[str, dict] = {}
        for key, solver_label, fn in SOLVERS:
            runs = []
            for path in paths:
                r = _run_one(path, key, fn, search_s, best)
                runs.append(r)
                gap = f"{r.gap:.2f}" if r.gap is not None else "-"
                check = "ok" if r.ok else "; ".join(r.errors[:3])
                lines.append(
                    f"| {label} | {r.instance} | {best.get(r.instance, '-')} | {key} | "
                    f"{r.distance if r.distance is not None else '-'} | {gap} | "
                    f"{r.seconds:.2f} | {r.routes} | {check} |"
                )
                print(f"   {lines[-1]}", flush=True)
            summaries[key] = _summary(runs)
            print(f"   {label}: {solver_label}: {_describe(summaries[key])}", flush=True)
        ours = summaries["pyvrp"]
        n = len(paths)
        bench = f"vrp {label}"
        results += [
            Result(
                bench,
                f"mean gap to best known ({n} instances)",
                ours["mean_gap"],
                "%",
                f"<= {target_gap:g} %",
                ours["mean_gap"] <= target_gap and not ours["failed"],
                _baselines(summaries, lambda s: _pct(s["mean_gap"])),
                f"search {search_s:g} s per instance for every solver; gaps over solved ones",
            ),
            Result(
                bench,
                "max gap to best known",
                ours["max_gap"],
                "%",
                baseline=_baselines(summaries, lambda s: _pct(s["max_gap"])),
            ),
            Result(
                bench,
                "wall time per instance (max)",
                ours["max_s"],
                "s",
                f"<= {target_s:g} s",
                ours["max_s"] <= target_s,
                _baselines(summaries, lambda s: f"{s['max_s']:.2f} s"),
                f"mean {ours['mean_s']:.2f} s; parsing and model building included",
            ),
            Result(
                bench,
                "infeasible or failed instances",
                len(ours["failed"]),
                "",
                "0",
                not ours["failed"],
                _baselines(summaries, _failed),
                "independent check: customers once, capacity, windows, vehicles, distance",
            ),
        ]

    instance = municipal_instance()
    municipal: dict[str, Run] = {}
    for key, _, fn in SOLVERS:
        started = time.perf_counter()
        solution = fn(instance=instance, time_limit_s=MUNICIPAL_SEARCH_S)
        seconds = time.perf_counter() - started
        errors = check_solution(instance, solution) if solution else ["no solution found"]
        distance = solution.distance if solution else None
        routes = len(solution.routes) if solution else 0
        municipal[key] = Run(instance.name, key, seconds, distance, None, errors, routes)
        lines.append(
            f"| municipal | {instance.name} | - | {key} | {distance} | - | {seconds:.2f} | "
            f"{routes} | {'ok' if not errors else '; '.join(errors[:3])} |"
        )
        print(f"   {lines[-1]}", flush=True)
    ours = municipal["pyvrp"]

    def versus(run: Run) -> str:
        if not run.ok:
            return f"{run.seconds:.1f} s, no feasible plan"
        return f"{run.seconds:.1f} s, {run.distance / ours.distance:.3f}x our distance"

    results += [
        Result(
            "vrp municipal",
            "300 jobs, 12 crews, 1/3 with windows: wall time",
            ours.seconds,
            "s",
            f"<= {MUNICIPAL_TARGET_S:g} s, feasible",
            ours.seconds <= MUNICIPAL_TARGET_S and ours.ok,
            "; ".join(f"{label} {versus(municipal[key])}" for key, label, _ in SOLVERS[1:]),
            f"search {MUNICIPAL_SEARCH_S:g} s; {ours.routes} routes, "
            f"{(ours.distance or 0) / 1000:.1f} km"
            + ("" if ours.ok else f"; {'; '.join(ours.errors[:2])}"),
        ),
    ]
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "VRP-instances.md").write_text(
        "# Route solver, per instance\n\n" + "\n".join(lines) + "\n"
    )
    return results
