"""The route planner: crews and stops in, routes with a schedule and the stops left out (with the
reason) back. No database access: fieldteams.routing.inputs reads the inputs and
fieldteams.routing.services stores the result.

How the day is modelled for the solver (fieldteams.routing.solver, PyVRP 0.14):

- Clock: seconds since the plan day's local midnight; metres and seconds from the TravelTimes
  provider (integers, scale 1).
- Each crew is one vehicle: it starts at its depot at the shift start (or, planning during the
  shift, at its position now; after the jobs it has already started, which stay first: PyVRP
  cannot fix a route prefix, so the vehicle starts where and when those jobs end) and must be
  back at its depot by the shift end.
- Breaks: PyVRP 0.14 has no breaks. The shift is shortened by the break, and every due time at
  or after the break window opens is brought forward by the break; the break is then put into
  the solved route at the best point in its window (waiting time absorbs it where there is
  some). Any point at or after the window opens delays later stops by at most the break, which
  the tightened limits leave room for, so the schedule stays feasible; a break that cannot start
  inside its window is noted on the plan.
- Prize-collecting: every stop is optional with a prize by priority
  (settings.GEO_OPS_ROUTE_PRIZES, metres of driving it is worth); the solver leaves out a stop
  only when the shifts cannot hold it, low priorities first. Each stop left out gets a reason.
- SLA due time: "window" (default) makes it a hard latest service start (due - service time);
  a due time no crew could meet even by going there first is not a window but a late job,
  planned and flagged. "penalty": no windows (PyVRP 0.14 has no soft windows): jobs due during
  the shift get twice the prize, and the ETA tells which will be late.
- Cleanup trucks (a vehicle type with a load capacity) unload at disposal sites mid-shift:
  the sites are reload depots, unloading time is added to the legs leaving a site. A truck also
  empties before it returns: the leg from its last stop to its depot goes through the disposal
  site that makes it shortest (in the matrices the solver sees, and as a stop of the route).
- Crew skills: PyVRP 0.14 has no client-vehicle compatibility, so crews are grouped by skills
  and vehicle type and each group is solved on its own (within a group every crew can do every
  stop). A job stays in its own crew's group; others go to the group of crews skilled for it.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from .checks import check_solution
from .inputs import STARTED_STATES, CrewInput, Point2, StopInput, day_origin
from .instances import VrpInstance
from .models import DropReason, StopKind
from .solver import SOLVER_NAME, VehicleSpec, solve
from .travel import TravelTimes

HORIZON_S = 3 * 24 * 3600  # "no limit" on the plan's clock


@dataclass
class PlanOptions:
    time_limit_s: float = 10.0
    include_unassigned: bool = False
    unassigned_radius_m: float = 3000.0
    include_hotspots: bool = False
    sla: str = "window"  # or "penalty"
    seed: int = 0


@dataclass
class PlannedStop:
    kind: str
    point: Point2
    arrival: datetime
    start: datetime
    departure: datetime
    travel_s: float = 0.0
    distance_m: float = 0.0
    service_s: float = 0.0
    load: int = 0
    load_after: int = 0
    trip: int = 0
    kept: bool = False
    stop: StopInput | None = None
    disposal_site: object | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    due_at: datetime | None = None
    late: bool = False


@dataclass
class PlannedRoute:
    crew: CrewInput
    stops: list[PlannedStop]
    distance_m: float = 0.0
    driving_s: float = 0.0
    service_s: float = 0.0
    waiting_s: float = 0.0
    break_s: float = 0.0
    working_s: float = 0.0
    trips: int = 1
    line: list[Point2] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.stops[0].departure

    @property
    def end(self) -> datetime:
        return self.stops[-1].arrival


@dataclass
class DroppedStop:
    stop: StopInput
    reason: str
    detail: str


@dataclass
class PlanResult:
    routes: list[PlannedRoute]
    dropped: list[DroppedStop]
    check_errors: list[str]
    notes: list[str]
    solver: str = SOLVER_NAME
    travel_times: str = ""
    runtime_s: float = 0.0


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


@dataclass
class _Vehicle:
    """A crew ready to plan: where and when it starts, its limits on the plan clock."""

    crew: CrewInput
    start_point: Point2
    start_s: int
    end_s: int  # back at the depot by (shift end, shortened by the break when one is taken)
    break_s: int  # break length to schedule (0: none)
    break_earliest_s: int
    break_latest_s: int
    kept: list[PlannedStop]
    first_stop: PlannedStop  # the START stop


class Planner:
    """One planning run over the given crews and stops (see the module docstring)."""

    def __init__(
        self,
        *,
        plan_date: date,
        crews: Sequence[CrewInput],
        stops: Sequence[StopInput],
        started: dict[int, list] | None = None,
        positions: dict[int, Point2] | None = None,
        travel: TravelTimes,
        options: PlanOptions,
        now: datetime,
    ):
        self.plan_date = plan_date
        self.origin = day_origin(plan_date)
        self.crews = list(crews)
        self.stops = list(stops)
        self.started = started or {}  # crew id -> [(Assignment, StopInput)] already started
        self.positions = positions or {}
        self.travel = travel
        self.options = options
        self.now = now
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.dropped: list[DroppedStop] = []

    # --- clock ----------------------------------------------------------------------------------
    def secs(self, moment: datetime) -> int:
        return int(round((moment - self.origin).total_seconds()))

    def at(self, seconds: float) -> datetime:
        return self.origin + timedelta(seconds=float(seconds))

    # --- the run --------------------------------------------------------------------------------
    def run(self) -> PlanResult:
        started_clock = clock.perf_counter()
        vehicles = [v for v in (self._vehicle(c) for c in self.crews) if v is not None]
        groups = self._groups(vehicles)
        total = sum(len(stops) for _vs, stops in groups) or 1
        routes: list[PlannedRoute] = []
        for number, (group_vehicles, group_stops) in enumerate(groups):
            share = self.options.time_limit_s * len(group_stops) / total
            routes += self._solve_group(number, group_vehicles, group_stops, max(share, 0.2))
        routes.sort(key=lambda r: r.crew.crew.code)
        self._check_complete(routes)
        return PlanResult(
            routes=routes,
            dropped=self.dropped,
            check_errors=self.errors,
            notes=self.notes,
            travel_times=self.travel.name,
            runtime_s=clock.perf_counter() - started_clock,
        )

    def _drop(self, stop: StopInput, reason: str, detail: str) -> None:
        self.dropped.append(DroppedStop(stop, reason, detail))

    # --- vehicles -------------------------------------------------------------------------------
    def _vehicle(self, crew: CrewInput) -> _Vehicle | None:
        if crew.shift is None:
            self.notes.append(f"{crew.crew.code} not planned: {crew.off_reason}")
            return None
        shift = crew.shift
        if self.now >= shift.end:
            crew.off_reason = f"the shift of {crew.crew.code} ended at {_hhmm(shift.end)}"
            self.notes.append(f"{crew.crew.code} not planned: {crew.off_reason}")
            crew.shift = None
            return None
        start_at = max(shift.start, self.now)
        point = self.positions.get(crew.crew.pk, crew.depot)
        first = PlannedStop(StopKind.START, point, start_at, start_at, start_at)
        kept: list[PlannedStop] = []
        now_s = self.secs(start_at)
        for assignment, stop in self._started_order(crew):
            if assignment.state == STARTED_STATES[2]:  # en route: drive there first
                travel = self.travel.matrices(
                    points=[point, stop.point], vehicle_type=crew.vehicle_type
                )
                leg_s, leg_m = int(travel.durations_s[0, 1]), int(travel.distances_m[0, 1])
                arrival_s = now_s + leg_s
                begin_s, end_s = arrival_s, arrival_s + stop.service_s
            else:  # in progress or paused: the crew is there; it ends after its service time
                leg_s = leg_m = 0
                begun = assignment.started_at or start_at
                begin_s = self.secs(begun)
                arrival_s = begin_s
                end_s = max(now_s, begin_s + stop.service_s)
            kept.append(
                PlannedStop(
                    StopKind.JOB,
                    stop.point,
                    self.at(arrival_s),
                    self.at(begin_s),
                    self.at(end_s),
                    travel_s=leg_s,
                    distance_m=leg_m,
                    service_s=stop.service_s,
                    kept=True,
                    stop=stop,
                    due_at=stop.due_at,
                    late=bool(stop.due_at and self.at(end_s) > stop.due_at),
                )
            )
            point, now_s = stop.point, int(round(end_s))
        end_limit = self.secs(shift.end)
        rule = crew.break_rule
        break_s = earliest = latest = 0
        if rule is not None and rule.minutes and self.secs(rule.latest) > now_s:
            # Still to take (planning after the window has passed assumes it was taken).
            break_s = rule.minutes * 60
            earliest, latest = self.secs(rule.earliest), self.secs(rule.latest)
            if end_limit - break_s <= now_s:
                break_s = 0
        return _Vehicle(
            crew=crew,
            start_point=point,
            start_s=now_s,
            end_s=end_limit - break_s,
            break_s=break_s,
            break_earliest_s=earliest,
            break_latest_s=latest,
            kept=kept,
            first_stop=first,
        )

    def _started_order(self, crew: CrewInput) -> list:
        items = self.started.get(crew.crew.pk, [])
        rank = {state: n for n, state in enumerate(STARTED_STATES)}
        return sorted(
            items,
            key=lambda item: (
                rank.get(item[0].state, 9),
                item[0].started_at or self.now,
                item[0].pk,
            ),
        )

    # --- groups ---------------------------------------------------------------------------------
    def _groups(self, vehicles: list[_Vehicle]) -> list[tuple[list[_Vehicle], list[StopInput]]]:
        by_key: dict[tuple, list[_Vehicle]] = defaultdict(list)
        for v in vehicles:
            by_key[(v.crew.skill_ids, v.crew.vehicle_type, v.crew.capacity is not None)].append(v)
        keys = sorted(by_key, key=lambda k: (-len(by_key[k]), by_key[k][0].crew.crew.code))
        crew_key = {v.crew.crew.pk: k for k, vs in by_key.items() for v in vs}
        off = {c.crew.pk: c for c in self.crews if c.shift is None}
        kept_keys = {s.key for v in vehicles for s in (k.stop for k in v.kept) if s}
        members: dict[tuple, list[StopInput]] = defaultdict(list)
        for stop in self.stops:
            if stop.key in kept_keys:
                continue
            key = crew_key.get(stop.crew_id) if stop.crew_id else None
            if key is None:
                skilled = [k for k in keys if stop.category_ids & k[0]]
                if stop.kind == StopKind.HOTSPOT:
                    # Cleanup stops go to trucks first.
                    skilled.sort(key=lambda k: not k[2])
                key = skilled[0] if skilled else None
            if key is None:
                if stop.crew_id in off:
                    crew = off[stop.crew_id]
                    self._drop(stop, DropReason.OFF_SHIFT, crew.off_reason)
                else:
                    self._drop(
                        stop, DropReason.NO_CREW, "no crew of the plan on shift is skilled for it"
                    )
                continue
            members[key].append(stop)
        for v in vehicles:
            # A crew with only started jobs still gets its route.
            members.setdefault(crew_key[v.crew.crew.pk], [])
        return [(by_key[k], members[k]) for k in keys if k in members]

    # --- one group ------------------------------------------------------------------------------
    def _solve_group(self, number, vehicles: list[_Vehicle], stops: list[StopInput], limit_s):
        vehicle_type = vehicles[0].crew.vehicle_type
        has_load = vehicles[0].crew.capacity is not None
        sites = []
        if has_load:
            seen = set()
            for v in vehicles:
                for site in v.crew.disposal_sites:
                    if site.pk not in seen:
                        seen.add(site.pk)
                        sites.append(site)
        n_v = len(vehicles)
        points: list[Point2] = [v.start_point for v in vehicles] + [v.crew.depot for v in vehicles]
        points += [(s.location.x, s.location.y) for s in sites]
        depot_count = len(points)
        points += [s.point for s in stops]
        matrices = self.travel.matrices(points=points, vehicle_type=vehicle_type)
        dist = matrices.distances_m.copy()
        base_dur = matrices.durations_s.copy()
        dur = base_dur.copy()
        unload = np.zeros(len(points), dtype=np.int64)
        for i, site in enumerate(sites):
            node = 2 * n_v + i
            unload[node] = site.unload_minutes * 60
            # Unloading is added to every leg leaving the site (the solver's depots have no
            # service time in fieldteams.routing.solver): arrival times stay true arrivals.
            dur[node, :] += unload[node]
            dur[node, node] = 0
        # Trucks empty before going home: every leg from a stop to a truck's depot runs through
        # its best disposal site, unloading included (the solver sees the whole detour).
        raw_dur, raw_dist = base_dur.copy(), dist.copy()
        via: dict[tuple[int, int], int] = {}  # (stop, end depot) -> site, full-matrix indices
        if has_load and sites and len(points) > depot_count:
            site_idx = np.arange(2 * n_v, depot_count)
            clients = np.arange(depot_count, len(points))
            for vi in range(n_v):
                end = n_v + vi
                detour = (
                    raw_dur[np.ix_(clients, site_idx)]
                    + unload[site_idx][None, :]
                    + raw_dur[site_idx, end][None, :]
                )
                best = detour.argmin(axis=1)
                for c, b in zip(clients, best, strict=True):
                    site = int(site_idx[b])
                    via[(int(c), end)] = site
                    dur[c, end] = raw_dur[c, site] + unload[site] + raw_dur[site, end]
                    base_dur[c, end] = dur[c, end]
                    dist[c, end] = raw_dist[c, site] + raw_dist[site, end]

        # Windows on the plan clock.
        max_break = max(v.break_s for v in vehicles)
        break_open = min((v.break_earliest_s for v in vehicles if v.break_s), default=HORIZON_S)
        windows: list[tuple[float, float]] = []
        for v in vehicles:
            windows.append((v.start_s, HORIZON_S))
        for v in vehicles:
            windows.append((0, v.end_s))
        for site in sites:
            opens = site.opens.hour * 3600 + site.opens.minute * 60
            closes = site.closes.hour * 3600 + site.closes.minute * 60
            windows.append((0, HORIZON_S) if closes - opens >= 24 * 3600 - 120 else (opens, closes))
        stop_windows: dict[str, tuple[int, int] | None] = {}
        prizes_by_key: dict[str, int] = {}
        for j, stop in enumerate(stops):
            node = depot_count + j
            prize = stop.prize
            window = None
            if stop.due_at is not None:
                due_s = self.secs(stop.due_at)
                if self.options.sla == "penalty":
                    if due_s <= max(v.end_s + v.break_s for v in vehicles):
                        prize *= 2
                else:
                    latest = due_s - int(stop.service_s)
                    if max_break and latest >= break_open:
                        latest -= max_break
                    reachable = min(v.start_s + int(dur[vi, node]) for vi, v in enumerate(vehicles))
                    # A due time no crew can meet whatever the plan gets no window: the job is
                    # planned and flagged late rather than left out.
                    if reachable <= latest < HORIZON_S:
                        window = (0, latest)
            stop_windows[stop.key] = window
            windows.append(window or (0, HORIZON_S))
            prizes_by_key[stop.key] = prize

        # Stops no crew of the group can serve at all: out before solving, with the reason.
        capacity_max = max((v.crew.capacity or 0) for v in vehicles)
        keep: list[int] = []
        for j, stop in enumerate(stops):
            node = depot_count + j
            if has_load and stop.load > capacity_max:
                self._drop(
                    stop,
                    DropReason.TOO_HEAVY,
                    f"load {stop.load} > the largest truck's {capacity_max}",
                )
                continue
            fits = False
            for vi, v in enumerate(vehicles):
                there = v.start_s + int(dur[vi, node])
                window = stop_windows[stop.key]
                if window and there > window[1]:
                    continue
                back = there + int(stop.service_s) + int(dur[node, n_v + vi])
                if back <= v.end_s:
                    fits = True
                    break
            if not fits:
                window = stop_windows[stop.key]
                if window and all(
                    v.start_s + int(dur[vi, node]) > window[1] for vi, v in enumerate(vehicles)
                ):
                    self._drop(
                        stop,
                        DropReason.WINDOW,
                        f"due {_hhmm(stop.due_at)}: no crew can reach it before "
                        f"{_hhmm(self.at(window[1]))} (its latest start)",
                    )
                else:
                    self._drop(
                        stop,
                        DropReason.TOO_FAR,
                        "going there and back with its service time does not fit in the "
                        "rest of the shift",
                    )
                continue
            keep.append(j)

        kept_stops = [stops[j] for j in keep]
        node_index = list(range(depot_count)) + [depot_count + j for j in keep]
        idx = np.array(node_index)
        sub_dist, sub_dur = dist[np.ix_(idx, idx)], dur[np.ix_(idx, idx)]
        sub_windows = [windows[i] for i in node_index]
        service = [0.0] * depot_count + [s.service_s for s in kept_stops]
        demands = [0] * depot_count + [s.load if has_load else 0 for s in kept_stops]
        node_ids = tuple(range(1, len(node_index) + 1))
        instance = VrpInstance(
            name=f"group-{number + 1}",
            node_ids=node_ids,
            depot=1,
            coordinates=np.array([points[i] for i in node_index], dtype=np.float64),
            demands=tuple(demands),
            capacity=capacity_max,
            vehicles=n_v,
            distances=np.ascontiguousarray(sub_dist, dtype=np.int64),
            durations=np.ascontiguousarray(sub_dur, dtype=np.int64),
            time_windows=tuple((float(a), float(b)) for a, b in sub_windows),
            service_times=tuple(float(s) for s in service),
            other_depots=tuple(range(2, depot_count + 1)),
        )
        site_nodes = tuple(2 * n_v + i + 1 for i in range(len(sites)))
        fleet = [
            VehicleSpec(
                count=1,
                capacity=(v.crew.capacity or 0) if has_load else 0,
                start_depot=vi + 1,
                end_depot=n_v + vi + 1,
                shift_start=float(v.start_s),
                shift_end=float(v.end_s),
                reload_depots=site_nodes if has_load else (),
                name=v.crew.crew.code,
            )
            for vi, v in enumerate(vehicles)
        ]
        prizes = {depot_count + k + 1: prizes_by_key[s.key] for k, s in enumerate(kept_stops)}
        routes_by_vehicle: dict[int, list[int]] = {}
        if kept_stops:
            solution = solve(
                instance=instance,
                time_limit_s=limit_s,
                seed=self.options.seed,
                prizes=prizes,
                fleet=fleet,
            )
            errors = check_solution(instance, solution, prizes=prizes, fleet=fleet)
            self.errors += [f"group {number + 1}: {e}" for e in errors]
            for detail in solution.details:
                path = [s.node for s in detail.schedule[1:-1]]
                routes_by_vehicle[detail.vehicle_type] = path
            for node in solution.dropped:
                stop = kept_stops[node - depot_count - 1]
                window = stop_windows[stop.key]
                crews = ", ".join(v.crew.crew.code for v in vehicles)
                if window:
                    self._drop(
                        stop,
                        DropReason.WINDOW,
                        f"due {_hhmm(stop.due_at)}: {crews} cannot reach it in time together "
                        f"with their higher-priority jobs (priority {stop.priority})",
                    )
                else:
                    self._drop(
                        stop,
                        DropReason.NO_ROOM,
                        f"the shifts of {crews} are full; priority {stop.priority} is lower "
                        "than the jobs planned",
                    )

        sub = {full: k for k, full in enumerate(node_index)}  # full-matrix index -> sub index
        routes = []
        for vi, v in enumerate(vehicles):
            path = routes_by_vehicle.get(vi, [])
            routes.append(
                self._schedule(
                    v,
                    vi,
                    path,
                    instance=instance,
                    kept_stops=kept_stops,
                    depot_count=depot_count,
                    sites=sites,
                    base_dur=base_dur[np.ix_(idx, idx)],
                    raw_dur=raw_dur[np.ix_(idx, idx)],
                    raw_dist=raw_dist[np.ix_(idx, idx)],
                    via={
                        (sub[c] + 1, sub[e] + 1): sub[site] + 1
                        for (c, e), site in via.items()
                        if c in sub
                    },
                    unload=unload[idx],
                    stop_windows=stop_windows,
                )
            )
        return routes

    # --- schedule with the break ----------------------------------------------------------------
    def _schedule(
        self,
        v: _Vehicle,
        vi: int,
        path: list[int],
        *,
        instance: VrpInstance,
        kept_stops: list[StopInput],
        depot_count: int,
        sites: list,
        base_dur: np.ndarray,
        raw_dur: np.ndarray,
        raw_dist: np.ndarray,
        via: dict[tuple[int, int], int],
        unload: np.ndarray,
        stop_windows,
    ) -> PlannedRoute:
        n_v = instance.vehicles
        nodes = [vi + 1, *path, n_v + vi + 1]  # instance node numbers
        early = [instance.time_windows[node - 1][0] for node in nodes]

        def service_of(node: int) -> float:
            i = node - 1
            return float(unload[i]) if node <= depot_count else float(instance.service_times[i])

        def forward(break_after: int | None, break_start: float = 0.0):
            """(arrival, start, departure) per node, and the break (position, arrival, start,
            end) when it is taken after the node at `break_after`."""
            times = []
            t = float(v.start_s)
            times.append((t, t, t))
            brk = None
            for k in range(1, len(nodes)):
                if break_after == k - 1:
                    b0 = max(t, break_start)
                    brk = (k - 1, t, b0, b0 + v.break_s)
                    t = b0 + v.break_s
                arrival = t + float(base_dur[nodes[k - 1] - 1, nodes[k] - 1])
                start = max(arrival, float(early[k]))
                t = start + service_of(nodes[k])
                times.append((arrival, start, t))
            return times, brk

        def ok(times) -> bool:
            for k in range(1, len(nodes)):
                node = nodes[k]
                late = instance.time_windows[node - 1][1]
                if node == nodes[-1]:
                    late = v.end_s + v.break_s  # the real shift end
                elif node > depot_count:
                    stop = kept_stops[node - depot_count - 1]
                    if stop_windows[stop.key]:
                        late = self.secs(stop.due_at) - stop.service_s  # the real latest start
                if times[k][1] > late + 1e-6:
                    return False
            return True

        plain, _ = forward(None)
        brk = None
        times = plain
        if v.break_s and plain[-1][0] > v.break_earliest_s:
            best = None
            for k in range(len(nodes) - 1):
                begin = max(plain[k][2], v.break_earliest_s)
                if begin > v.break_latest_s:
                    continue
                candidate, b = forward(k, v.break_earliest_s)
                if ok(candidate) and (best is None or candidate[-1][0] < best[0][-1][0]):
                    best = (candidate, b)
            if best is None:
                # At the first point at or after the window opens: safe by construction.
                for k in range(len(nodes) - 1):
                    if plain[k][2] >= v.break_earliest_s:
                        best = forward(k, v.break_earliest_s)
                        break
                else:
                    best = forward(len(nodes) - 2, v.break_earliest_s)
                self.notes.append(
                    f"{v.crew.crew.code}: the break starts at {_hhmm(self.at(best[1][2]))}, "
                    f"outside its window {_hhmm(self.at(v.break_earliest_s))}-"
                    f"{_hhmm(self.at(v.break_latest_s))}"
                )
            times, brk = best

        stops: list[PlannedStop] = [v.first_stop, *v.kept]
        load = 0
        trip = 0
        for k in range(1, len(nodes)):
            node = nodes[k]
            arrival, start, departure = times[k]
            prev = nodes[k - 1]
            if brk is not None and brk[0] == k - 1:
                stops.append(
                    PlannedStop(
                        StopKind.BREAK,
                        stops[-1].point,
                        self.at(brk[1]),
                        self.at(brk[2]),
                        self.at(brk[3]),
                        service_s=brk[3] - brk[2],
                        load_after=load,
                        trip=trip,
                    )
                )
            leg_s = float(base_dur[prev - 1, node - 1])
            leg_m = float(instance.distances[prev - 1, node - 1])
            site_node = via.get((prev, node)) if node == nodes[-1] else None
            if site_node is not None:
                # The last leg home runs through a disposal site: shown as its own stop.
                site = sites[site_node - 2 * instance.vehicles - 1]
                leg_s = float(raw_dur[prev - 1, site_node - 1])
                leg_m = float(raw_dist[prev - 1, site_node - 1])
                there = times[k - 1][2] if not (brk and brk[0] == k - 1) else brk[3]
                there += leg_s
                done = there + float(unload[site_node - 1])
                stops.append(
                    PlannedStop(
                        StopKind.DISPOSAL,
                        (site.location.x, site.location.y),
                        self.at(there),
                        self.at(there),
                        self.at(done),
                        travel_s=leg_s,
                        distance_m=leg_m,
                        service_s=done - there,
                        load_after=0,
                        trip=trip,
                        disposal_site=site,
                    )
                )
                load = 0
                trip += 1
                leg_s = float(raw_dur[site_node - 1, node - 1])
                leg_m = float(raw_dist[site_node - 1, node - 1])
            if node == nodes[-1]:
                stop = PlannedStop(
                    StopKind.END,
                    v.crew.depot,
                    self.at(arrival),
                    self.at(start),
                    self.at(start),
                    travel_s=leg_s,
                    distance_m=leg_m,
                    load_after=load,
                    trip=trip,
                )
            elif node <= depot_count:  # a disposal site
                site = sites[node - 2 * instance.vehicles - 1]
                load = 0
                stop = PlannedStop(
                    StopKind.DISPOSAL,
                    (site.location.x, site.location.y),
                    self.at(arrival),
                    self.at(start),
                    self.at(departure),
                    travel_s=leg_s,
                    distance_m=leg_m,
                    service_s=departure - start,
                    load_after=0,
                    trip=trip,
                    disposal_site=site,
                )
                trip += 1
            else:
                item = kept_stops[node - depot_count - 1]
                window = stop_windows[item.key]
                has_load = v.crew.capacity is not None
                load += item.load if has_load else 0
                stop = PlannedStop(
                    item.kind,
                    item.point,
                    self.at(arrival),
                    self.at(start),
                    self.at(departure),
                    travel_s=leg_s,
                    distance_m=leg_m,
                    service_s=item.service_s,
                    load=item.load if has_load else 0,
                    load_after=load,
                    trip=trip,
                    stop=item,
                    # The real latest start (the solver saw it brought forward by the break).
                    window_end=item.due_at - timedelta(seconds=item.service_s) if window else None,
                    due_at=item.due_at,
                    late=bool(item.due_at and self.at(departure) > item.due_at),
                )
            stops.append(stop)
        return self._totals(v, stops)

    def _totals(self, v: _Vehicle, stops: list[PlannedStop]) -> PlannedRoute:
        route = PlannedRoute(crew=v.crew, stops=stops)
        route.trips = max(1, len({s.trip for s in stops if s.stop is not None}))
        previous = None
        for s in stops:
            route.distance_m += s.distance_m
            route.driving_s += s.travel_s
            if s.kind == StopKind.BREAK:
                route.break_s += s.service_s
            else:
                route.service_s += s.service_s
            if previous is not None:
                gap = (s.arrival - previous.departure).total_seconds() - s.travel_s
                route.waiting_s += max(0.0, (s.start - s.arrival).total_seconds()) + max(0.0, gap)
            previous = s
        route.working_s = (stops[-1].arrival - stops[0].departure).total_seconds()
        points: list[Point2] = []
        for s in stops:
            if not points or points[-1] != s.point:
                points.append(s.point)
        route.line = self.travel.line(points=points) if len(points) > 1 else []
        return route

    # --- nothing lost ---------------------------------------------------------------------------
    def _check_complete(self, routes: list[PlannedRoute]) -> None:
        """Every stop given is on exactly one route or dropped with a reason."""
        planned = [s.stop.key for r in routes for s in r.stops if s.stop is not None]
        dropped = [d.stop.key for d in self.dropped]
        seen = planned + dropped
        for key in {k for k in seen if seen.count(k) > 1}:
            self.errors.append(f"stop {key} is planned or dropped more than once")
        missing = {s.key for s in self.stops} - set(seen)
        for key in sorted(missing):
            self.errors.append(f"stop {key} is neither planned nor dropped")


__all__ = [
    "DroppedStop",
    "PlanOptions",
    "PlanResult",
    "PlannedRoute",
    "PlannedStop",
    "Planner",
]
