"""The route solver: the one module that knows PyVRP, so that it can be swapped.

`solve(instance=..., time_limit_s=...)` takes a `VrpInstance` and returns a `Solution` whose
routes are lists of the instance's own node numbers and whose distance is recomputed from the
instance's integer matrix, i.e. exactly in the file's convention (never PyVRP's own figure).

What the planner can ask for, and how it maps onto PyVRP (>= 0.14, < 0.15):

- capacity: `VrpInstance.capacity` or `VehicleSpec.capacity` -> `VehicleType.capacity`;
- time windows and service times: `VrpInstance.time_windows` / `service_times` ->
  `Client.tw_early/tw_late/service_duration` (waiting allowed, late service never);
- at most N vehicles, a hard limit: `VrpInstance.vehicles` or `VehicleSpec.count` ->
  `VehicleType.num_available`;
- prize-collecting, so low-priority jobs can be left out: `solve(prizes={node: prize})` ->
  `Client(required=False, prize=...)`; the jobs left out come back in `Solution.dropped`;
- several depots and per-vehicle shifts: `solve(fleet=[VehicleSpec(start_depot=..., end_depot=...,
  shift_start=..., shift_end=..., max_duration=...)])` -> `VehicleType.start_depot/end_depot/
  tw_early/tw_late/shift_duration`;
- reload trips (a truck empties at a disposal site and goes on): `VehicleSpec.reload_depots`,
  `max_reloads` -> `VehicleType.reload_depots/max_reloads`; each route comes back as trips with
  the depot visited between them (`RouteDetail.trips`, `reloads`, `loads`);
- travel times other than distances: `VrpInstance.durations` -> the duration matrix.

Not offered by PyVRP 0.14 and so not here: breaks inside a shift (the planner has to approximate
them, e.g. by shortening the shift by the break) and per-job crew skills (split the problem per
skill, or plan each crew's own jobs).
PyVRP works on integers: distances and times are passed as `value * instance.scale`, which the
instance already holds exactly (Solomon: x10 after truncation).

Under a tight vehicle limit the search starts from a solution found with the fleet relaxed (one
vehicle per customer at a fixed cost above any distance): see `_fleet_relaxed_start`.

PyVRP 0.14's `solve` runs an iterated local search with late-acceptance hill-climbing over the
same local-search operators that its earlier hybrid genetic search used.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fieldteams.routing.instances import VrpInstance

SOLVER_NAME = "pyvrp"

# Large but safe for PyVRP's int64 arithmetic: "no limit" for shift windows and durations.
_NO_LIMIT = 2**50


@dataclass(frozen=True)
class VehicleSpec:
    """A group of identical vehicles (a vehicle type); `None` fields take the instance's values.

    Depots are node numbers of the instance (its `depot` or one of its `other_depots`); times
    are in the instance's file units (not scaled).
    """

    count: int
    capacity: int | None = None
    start_depot: int | None = None
    end_depot: int | None = None
    shift_start: float | None = None  # earliest departure; default: the depot's window opens
    shift_end: float | None = None  # latest return; default: the depot's window closes
    max_duration: float | None = None  # longest shift (driving + service + waiting)
    reload_depots: tuple[int, ...] = ()  # depots where the load can be emptied mid-route
    max_reloads: int | None = None  # None: as many as useful
    name: str = ""


@dataclass
class Stop:
    """One visit of a route in order: a customer, a reload, or the start/end depot."""

    node: int
    kind: str  # "start", "customer", "reload", "end"
    start: float  # service start (file time units)
    end: float  # service end
    trip: int  # 0 for the first trip; each reload starts the next


@dataclass
class RouteDetail:
    """A route as the planner needs it: vehicle, depots, trips, schedule and totals."""

    vehicle_type: int  # index into the fleet
    start_depot: int
    end_depot: int
    visits: list[int]  # customers in order (all trips)
    trips: list[list[int]]  # customers per trip; reloads separate trips
    reloads: list[int]  # depot visited after each trip but the last
    loads: list[int]  # load carried on each trip
    distance: float  # file units
    duration: float  # file time units, start depot to end depot
    schedule: list[Stop]


@dataclass
class Solution:
    """A solved instance: routes of node numbers and the distance in the file's convention."""

    instance: str
    routes: list[list[int]]  # customers (node numbers as in the file) in visiting order
    distance: float  # total, in the file's convention and units
    distance_units: int  # the same, as the integer the solver works on (distance * scale)
    feasible: bool  # capacities, windows, shift limits and the vehicle limit all hold
    dropped: list[int] = field(default_factory=list)  # optional customers left out
    details: list[RouteDetail] = field(default_factory=list)
    collected_prize: float = 0
    runtime_s: float = 0.0
    iterations: int = 0
    solver: str = SOLVER_NAME

    @property
    def num_routes(self) -> int:
        return len(self.routes)


def default_fleet(instance: VrpInstance) -> list[VehicleSpec]:
    """The instance's own fleet: `vehicles` identical vehicles at its depot (unlimited: one
    per customer)."""
    count = instance.vehicles if instance.vehicles is not None else len(instance.customers)
    return [VehicleSpec(count=max(count, 1))]


def solve(
    *,
    instance: VrpInstance,
    time_limit_s: float,
    seed: int = 0,
    prizes: Mapping[int, float] | None = None,
    fleet: Sequence[VehicleSpec] | None = None,
) -> Solution:
    """Solve `instance` within `time_limit_s` seconds of wall time (model building included).

    `prizes` makes the named customers optional: a customer is visited when its prize (in
    distance units) outweighs the detour, and is otherwise listed in `Solution.dropped`.
    Customers not named stay required. `fleet` replaces the instance's single vehicle type.
    """
    import pyvrp  # here, not at the top: only solving pays for loading PyVRP (start-up does not)

    started = time.perf_counter()
    if time_limit_s <= 0:
        raise ValueError("time_limit_s must be positive")
    fleet = list(fleet) if fleet is not None else default_fleet(instance)
    data, customer_nodes, depot_nodes = _problem_data(instance, prizes or {}, fleet)
    deadline = started + time_limit_s - _READ_BACK_S

    with warnings.catch_warnings():
        # PenaltyBoundWarning: PyVRP's note that feasibility is hard to reach. The outcome is
        # reported through Solution.feasible instead of a warning on stderr.
        warnings.simplefilter("ignore", pyvrp.exceptions.PenaltyBoundWarning)
        initial, iterations = _fleet_relaxed_start(data, seed, started + _PHASE_ONE * time_limit_s)
        result = pyvrp.solve(
            data,
            stop=_Deadline(deadline),
            seed=seed,
            collect_stats=False,
            display=False,
            initial_solution=initial,
        )
    best = result.best
    solution = _read_back(instance, data, best, customer_nodes, depot_nodes, fleet, prizes or {})
    solution.iterations = iterations + result.num_iterations
    solution.runtime_s = time.perf_counter() - started
    return solution


# Share of the time limit the fleet-relaxed first phase may use at most (it usually stops much
# earlier, as soon as it has a feasible solution that fits the fleet).
_PHASE_ONE = 0.5


class _Deadline:
    """PyVRP stopping criterion: stop at a perf_counter() instant."""

    def __init__(self, deadline: float, done=lambda: False):
        self.deadline = deadline
        self.done = done

    def __call__(self, best_cost: float) -> bool:
        return self.done() or time.perf_counter() >= self.deadline


def _fleet_relaxed_start(data, seed: int, deadline: float):
    """A feasible first solution under a tight vehicle limit, or None.

    PyVRP's search starts from a random solution and repairs it with penalties. When the fleet
    is tight (Solomon C101: 10 trucks at 90 % of their capacity, with windows) that repair can
    take longer than the whole time limit. Allowing one vehicle per customer instead, with a
    fixed cost per vehicle above any distance, makes feasibility easy and drives the number of
    routes down first; as soon as a feasible solution fits the real fleet, the real search
    starts from it. Skipped when the fleet is not a real limit.
    """
    import pyvrp
    from pyvrp import IteratedLocalSearchCallbacks, IteratedLocalSearchParams, SolveParams

    n = data.num_clients
    limits = [vt.num_available for vt in data.vehicle_types()]
    if sum(limits) >= n:
        return None, 0
    if not any(client.required for client in data.clients()):
        # Prize-collecting with every client optional (the route planner): leaving clients out
        # is always feasible, so the fleet is no obstacle to feasibility.
        return None, 0
    fixed = int(data.distance_matrix(0).max()) * (n + 1) + 1
    relaxed = data.replace(
        vehicle_types=[vt.replace(num_available=n, fixed_cost=fixed) for vt in data.vehicle_types()]
    )

    def fits(solution) -> bool:
        if not solution.is_feasible():
            return False
        used = [0] * len(limits)
        for route in solution.routes():
            used[route.vehicle_type()] += 1
        return all(u <= limit for u, limit in zip(used, limits, strict=True))

    class Watch(IteratedLocalSearchCallbacks):
        found = None

        def on_start(self, ils):
            if fits(ils.initial_solution):
                self.found = ils.initial_solution

        def on_best(self, best):
            if self.found is None and fits(best):
                self.found = best

    watch = Watch()
    params = SolveParams(ils=IteratedLocalSearchParams(callbacks=watch))
    result = pyvrp.solve(
        relaxed,
        stop=_Deadline(deadline, lambda: watch.found is not None),
        seed=seed,
        collect_stats=False,
        display=False,
        params=params,
    )
    found = watch.found if watch.found is not None else result.best
    if not fits(found):
        return None, result.num_iterations
    # Same visits, reloads included (the schedule without its start and end depots).
    routes = [
        pyvrp.Route(
            data,
            [pyvrp.Activity(act.type, act.idx) for act in route.schedule()[1:-1]],
            route.vehicle_type(),
        )
        for route in found.routes()
    ]
    return pyvrp.Solution(data, routes), result.num_iterations


_READ_BACK_S = 0.02


def _problem_data(instance: VrpInstance, prizes: Mapping[int, float], fleet: Sequence[VehicleSpec]):
    """Build PyVRP's ProblemData: one location per node, depots first in PyVRP's numbering."""
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType

    depot_nodes = list(instance.depots)
    depot_pos = {node: i for i, node in enumerate(depot_nodes)}
    customer_nodes = list(instance.customers)
    unknown = set(prizes) - set(customer_nodes)
    if unknown:
        raise ValueError(f"prizes name nodes that are not customers: {sorted(unknown)}")

    tws = instance.time_windows
    services = instance.service_times
    units = instance.to_units

    def window(node: int) -> tuple[int, int]:
        if tws is None:
            return 0, _NO_LIMIT
        early, late = tws[instance.index(node)]
        return units(early), units(late)

    # Locations in matrix order (node order); depots and clients point at them.
    locations = [Location(x=float(x), y=float(y)) for x, y in instance.coordinates]
    depots = []
    for node in depot_nodes:
        early, late = window(node)
        depots.append(Depot(location=instance.index(node), tw_early=early, tw_late=late))
    clients = []
    for node in customer_nodes:
        i = instance.index(node)
        early, late = window(node)
        optional = node in prizes
        clients.append(
            Client(
                location=i,
                delivery=[int(instance.demands[i])],
                service_duration=units(services[i]) if services is not None else 0,
                tw_early=early,
                tw_late=late,
                prize=units(prizes[node]) if optional else 0,
                required=not optional,
            )
        )

    vehicle_types = []
    for spec in fleet:
        start = spec.start_depot if spec.start_depot is not None else instance.depot
        end = spec.end_depot if spec.end_depot is not None else start
        for node in (start, end, *spec.reload_depots):
            if node not in depot_pos:
                raise ValueError(f"vehicle depot {node} is not a depot of the instance")
        start_early, _ = window(start)
        _, end_late = window(end)
        vehicle_types.append(
            VehicleType(
                num_available=spec.count,
                capacity=[spec.capacity if spec.capacity is not None else instance.capacity],
                start_depot=depot_pos[start],
                end_depot=depot_pos[end],
                tw_early=units(spec.shift_start) if spec.shift_start is not None else start_early,
                tw_late=units(spec.shift_end) if spec.shift_end is not None else end_late,
                shift_duration=(
                    units(spec.max_duration) if spec.max_duration is not None else _NO_LIMIT
                ),
                reload_depots=[depot_pos[d] for d in spec.reload_depots],
                max_reloads=(
                    spec.max_reloads if spec.max_reloads is not None else np.iinfo(np.uint64).max
                ),
                name=spec.name,
            )
        )

    distances = np.ascontiguousarray(instance.distances, dtype=np.int64)
    durations = instance.durations if instance.durations is not None else distances
    durations = np.ascontiguousarray(durations, dtype=np.int64)
    data = ProblemData(locations, clients, depots, vehicle_types, [distances], [durations])
    return data, customer_nodes, depot_nodes


def _read_back(
    instance: VrpInstance,
    data,
    best,
    customer_nodes: list[int],
    depot_nodes: list[int],
    fleet: Sequence[VehicleSpec],
    prizes: Mapping[int, float],
) -> Solution:
    """Translate PyVRP's best solution back into node numbers, trips and a schedule."""
    details: list[RouteDetail] = []
    total_units = 0
    visited: set[int] = set()
    for route in best.routes():
        detail, route_units = _route_detail(instance, route, customer_nodes, depot_nodes)
        details.append(detail)
        visited.update(detail.visits)
        total_units += route_units
    dropped = [n for n in customer_nodes if n not in visited]
    return Solution(
        instance=instance.name,
        routes=[d.visits for d in details],
        distance=instance.from_units(total_units),
        distance_units=total_units,
        feasible=bool(best.is_feasible()) and all(n in prizes for n in dropped),
        dropped=dropped,
        details=details,
        collected_prize=sum(prizes[n] for n in visited if n in prizes),
    )


def _route_detail(
    instance: VrpInstance, route, customer_nodes: list[int], depot_nodes: list[int]
) -> tuple[RouteDetail, int]:
    """One PyVRP route on the instance's node numbers, and its distance in integer units."""
    from pyvrp import ActivityType

    from_units = instance.from_units
    activities = list(route.schedule())
    stops: list[Stop] = []
    trips: list[list[int]] = [[]]
    reloads: list[int] = []
    path: list[int] = []  # every node passed, depots included, for the distance
    for position, act in enumerate(activities):
        if act.type == ActivityType.DEPOT:
            node = depot_nodes[act.idx]
            if position == 0:
                kind = "start"
            elif position == len(activities) - 1:
                kind = "end"
            else:
                kind = "reload"
                reloads.append(node)
                trips.append([])
        elif act.type == ActivityType.CLIENT:
            node = customer_nodes[act.idx]
            kind = "customer"
            trips[-1].append(node)
        else:  # shipments are not modelled here
            raise RuntimeError(f"unexpected activity {act}")
        path.append(node)
        stops.append(
            Stop(
                node=node,
                kind=kind,
                start=from_units(act.start_time),
                end=from_units(act.end_time),
                trip=len(trips) - 1,
            )
        )
    route_units = sum(
        int(instance.distances[instance.index(a), instance.index(b)])
        for a, b in zip(path, path[1:], strict=False)
    )
    detail = RouteDetail(
        vehicle_type=route.vehicle_type(),
        start_depot=depot_nodes[route.start_depot()],
        end_depot=depot_nodes[route.end_depot()],
        visits=[n for trip in trips for n in trip],
        trips=trips,
        reloads=reloads,
        loads=[sum(instance.demand(n) for n in trip) for trip in trips],
        distance=from_units(route_units),
        duration=from_units(activities[-1].end_time - activities[0].start_time),
        schedule=stops,
    )
    return detail, route_units
