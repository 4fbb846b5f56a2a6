"""Independent feasibility check of a routing solution, for tests and benchmarks.

Nothing here trusts the solver: the schedule is recomputed from the instance's windows and
service times, and for the benchmark files the distance is recomputed from the coordinates with
the file's own convention on exact integers (not from the matrix the solver was given).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

from fieldteams.routing.instances import VrpInstance
from fieldteams.routing.solver import Solution, VehicleSpec, default_fleet


def file_distance_units(instance: VrpInstance, a: int, b: int) -> int:
    """Distance between nodes a and b times `instance.scale`, from the coordinates.

    EUC_2D: TSPLIB nint(d). FLOOR_2D with SCALE s: floor(s * d). For integer coordinates both are
    computed with integer square roots, so no floating-point rounding can creep in.
    """
    if instance.edge_weight_type == "EXPLICIT":
        return int(instance.distances[instance.index(a), instance.index(b)])
    xa, ya = instance.coordinates[instance.index(a)]
    xb, yb = instance.coordinates[instance.index(b)]
    dx, dy = xa - xb, ya - yb
    s = instance.scale
    if float(dx).is_integer() and float(dy).is_integer():
        d2 = int(dx) ** 2 + int(dy) ** 2
        if instance.edge_weight_type == "EUC_2D":
            # nint(sqrt(d2)) = r + 1 exactly when sqrt(d2) >= r + 0.5, i.e. d2 - r^2 > r.
            r = math.isqrt(d2)
            return r + 1 if d2 - r * r > r else r
        if instance.edge_weight_type == "FLOOR_2D":
            return math.isqrt(s * s * d2)
    d = math.hypot(dx, dy) * s
    if instance.edge_weight_type == "EUC_2D":
        return int(math.floor(d + 0.5))
    if instance.edge_weight_type == "FLOOR_2D":
        return int(math.floor(d))
    raise ValueError(f"unknown edge weight type {instance.edge_weight_type}")


def check_solution(
    instance: VrpInstance,
    solution: Solution,
    *,
    prizes: Mapping[int, float] | None = None,
    fleet: Sequence[VehicleSpec] | None = None,
) -> list[str]:
    """Every violated rule of `solution` for `instance` as a readable line; [] when feasible.

    Checks: each required customer exactly once and optional ones at most once (the rest listed
    as dropped); no depot or unknown node as a stop; the vehicle limit per vehicle type; load per
    trip within capacity; service starts inside every time window with the schedule recomputed
    (earliest departure, waiting allowed), return to the end depot within its window and the
    shift; the reported distance against one recomputed in the file's convention. A shift's
    maximum duration is not checked here.
    """
    prizes = prizes or {}
    fleet = list(fleet) if fleet is not None else default_fleet(instance)
    routes, errors = _routes(instance, solution)
    errors += _visit_errors(instance, solution, prizes)
    errors += _fleet_errors(routes, solution, fleet)
    total = 0
    for number, route in enumerate(routes, start=1):
        route_errors, units = _route_check(instance, fleet, number, route)
        errors += route_errors
        total += units
    if total != solution.distance_units:
        errors.append(f"distance units {solution.distance_units} != recomputed {total}")
    if not math.isclose(solution.distance, total / instance.scale, rel_tol=0, abs_tol=1e-9):
        errors.append(f"distance {solution.distance} != recomputed {total / instance.scale}")
    return errors


# A route as (vehicle type, start depot, end depot, trips, reload depots).
_Route = tuple[int, int, int, list[list[int]], list[int]]


def _routes(instance: VrpInstance, solution: Solution) -> tuple[list[_Route], list[str]]:
    """The solution's routes with their depots and trips (one trip from the instance's depot
    when the solution has no details), and whether the details agree with the plain routes."""
    if not solution.details:
        return [(0, instance.depot, instance.depot, [r], []) for r in solution.routes], []
    routes = [
        (d.vehicle_type, d.start_depot, d.end_depot, d.trips, d.reloads) for d in solution.details
    ]
    if [d.visits for d in solution.details] != solution.routes:
        return routes, ["routes and route details disagree"]
    return routes, []


def _visit_errors(
    instance: VrpInstance, solution: Solution, prizes: Mapping[int, float]
) -> list[str]:
    """Each customer exactly once (optional ones at most once), nothing else as a stop."""
    errors = []
    customers = set(instance.customers)
    seen = Counter(n for r in solution.routes for n in r)
    for node, count in seen.items():
        if node not in customers:
            errors.append(f"node {node} is not a customer")
        elif count > 1:
            errors.append(f"customer {node} visited {count} times")
    missing = customers - set(seen)
    for node in sorted(missing - set(prizes)):
        errors.append(f"required customer {node} not visited")
    if sorted(missing) != sorted(solution.dropped):
        errors.append(f"dropped list {sorted(solution.dropped)} != unvisited {sorted(missing)}")
    return errors


def _fleet_errors(
    routes: list[_Route], solution: Solution, fleet: Sequence[VehicleSpec]
) -> list[str]:
    """Vehicle limits: per vehicle type and in all."""
    errors = []
    used = Counter(vt for vt, *_ in routes)
    for vt, count in used.items():
        if vt >= len(fleet):
            errors.append(f"route uses unknown vehicle type {vt}")
        elif count > fleet[vt].count:
            errors.append(f"vehicle type {vt}: {count} routes > {fleet[vt].count} vehicles")
    limit = sum(spec.count for spec in fleet)
    if len(solution.routes) > limit:
        errors.append(f"{len(solution.routes)} routes > {limit} vehicles")
    return errors


def _route_check(
    instance: VrpInstance, fleet: Sequence[VehicleSpec], number: int, route: _Route
) -> tuple[list[str], int]:
    """One route's broken rules (reloads, loads per trip, the schedule) and its distance in
    units recomputed in the file's convention (0 when its trips and reloads do not match)."""
    vt, start, end, trips, reloads = route
    spec = fleet[vt] if vt < len(fleet) else fleet[0]
    if len(reloads) != len(trips) - 1:
        return [f"route {number}: {len(trips)} trips but {len(reloads)} reloads"], 0
    errors = _trip_errors(instance, spec, number, trips, reloads)
    path = [start]
    for t, trip in enumerate(trips):
        path += trip
        if t < len(reloads):
            path.append(reloads[t])
    path.append(end)
    units = sum(file_distance_units(instance, a, b) for a, b in zip(path, path[1:], strict=False))
    errors += [f"route {number}: {e}" for e in _schedule_errors(instance, spec, path)]
    return errors, units


def _trip_errors(
    instance: VrpInstance,
    spec: VehicleSpec,
    number: int,
    trips: list[list[int]],
    reloads: list[int],
) -> list[str]:
    """Reloads allowed and at reload depots; each trip's load within the capacity."""
    errors = []
    capacity = spec.capacity if spec.capacity is not None else instance.capacity
    if spec.max_reloads is not None and len(reloads) > spec.max_reloads:
        errors.append(f"route {number}: {len(reloads)} reloads > {spec.max_reloads}")
    for depot in reloads:
        if depot not in spec.reload_depots:
            errors.append(f"route {number}: reload at {depot}, not a reload depot")
    customers = set(instance.customers)
    for t, trip in enumerate(trips):
        load = sum(instance.demand(n) for n in trip if n in customers)
        if load > capacity:
            errors.append(f"route {number} trip {t + 1}: load {load} > capacity {capacity}")
    return errors


def _schedule_errors(instance: VrpInstance, spec: VehicleSpec, path: list[int]) -> list[str]:
    """Forward schedule in integer units: leave at the shift start, wait when early."""
    tws, services = instance.time_windows, instance.service_times
    units = instance.to_units

    def window(node: int) -> tuple[int, int | None]:
        if tws is None:
            return 0, None
        early, late = tws[instance.index(node)]
        return units(early), units(late)

    def travel(a: int, b: int) -> int:
        if instance.durations is not None:
            return int(instance.durations[instance.index(a), instance.index(b)])
        return file_distance_units(instance, a, b)

    errors = []
    s = instance.scale
    now = units(spec.shift_start) if spec.shift_start is not None else window(path[0])[0]
    shift_end = units(spec.shift_end) if spec.shift_end is not None else None
    depots = set(instance.depots)
    for prev, node in zip(path, path[1:], strict=False):
        now += travel(prev, node)
        early, late = window(node)
        now = max(now, early)
        if late is not None and now > late:
            errors.append(f"node {node}: service starts at {now / s} after {late / s}")
        if node not in depots and services is not None:
            now += units(services[instance.index(node)])
    if shift_end is not None and now > shift_end:
        errors.append(f"back at {now / s} after the shift end {shift_end / s}")
    return errors
