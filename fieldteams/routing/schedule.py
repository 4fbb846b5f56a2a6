"""A solved route scheduled into times (see fieldteams.routing.planner for the model): the
solver gives each crew its stops in order; here the break goes in at the best point of its
window (PyVRP 0.14 has no breaks), the plan clock's seconds become times, the trips to disposal
sites become stops of their own, and the route's totals are added up."""

from __future__ import annotations

from datetime import timedelta

from ..models import StopKind
from .group_model import SolvedGroup
from .inputs import Point2
from .plan_types import PlanClock, PlannedRoute, PlannedStop, Vehicle, hhmm
from .travel import TravelTimes

# (arrival, start, departure) on the plan clock, per node of the route.
Times = list[tuple[float, float, float]]
# The break: (position it follows, arrival, start, end).
Break = tuple[int, float, float, float]


def schedule_route(
    v: Vehicle,
    vi: int,
    path: list[int],
    *,
    group: SolvedGroup,
    clock: PlanClock,
    notes: list[str],
    travel: TravelTimes,
) -> PlannedRoute:
    """Crew `v` (vehicle `vi` of the group) driving `path` (the solver's node numbers)."""
    timing = _Timing(v, vi, path, group=group, clock=clock)
    times, brk = timing.with_break(notes)
    stops = _StopMaker(v, timing.nodes, group=group, clock=clock).stops(times, brk)
    return route_totals(v, stops, travel)


class _Timing:
    """Times along the route, with the break taken after a given stop or not at all."""

    def __init__(self, v: Vehicle, vi: int, path: list[int], *, group: SolvedGroup, clock):
        self.v = v
        self.group = group
        self.clock = clock
        instance = group.instance
        n_v = instance.vehicles
        self.nodes = [vi + 1, *path, n_v + vi + 1]  # instance node numbers
        self.early = [instance.time_windows[node - 1][0] for node in self.nodes]

    def service_of(self, node: int) -> float:
        i = node - 1
        if node <= self.group.depot_count:
            return float(self.group.unload[i])
        return float(self.group.instance.service_times[i])

    def forward(self, break_after: int | None, break_start: float = 0.0) -> tuple[Times, Break]:
        """(arrival, start, departure) per node, and the break (position, arrival, start,
        end) when it is taken after the node at `break_after`."""
        nodes, base_dur, v = self.nodes, self.group.base_dur, self.v
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
            start = max(arrival, float(self.early[k]))
            t = start + self.service_of(nodes[k])
            times.append((arrival, start, t))
        return times, brk

    def ok(self, times: Times) -> bool:
        """Every service starts by its real latest start and the crew is home by the real
        shift end (the solver saw both brought forward by the break)."""
        nodes, group, v = self.nodes, self.group, self.v
        for k in range(1, len(nodes)):
            node = nodes[k]
            late = group.instance.time_windows[node - 1][1]
            if node == nodes[-1]:
                late = v.end_s + v.break_s  # the real shift end
            elif node > group.depot_count:
                stop = group.kept_stops[node - group.depot_count - 1]
                if group.stop_windows[stop.key]:
                    late = self.clock.secs(stop.due_at) - stop.service_s  # the real latest start
            if times[k][1] > late + 1e-6:
                return False
        return True

    def with_break(self, notes: list[str]) -> tuple[Times, Break | None]:
        """The times with the break where the route ends earliest, keeping every window; a
        break that cannot start inside its window is noted."""
        v = self.v
        plain, _ = self.forward(None)
        if not (v.break_s and plain[-1][0] > v.break_earliest_s):
            return plain, None
        best = self._best_break(plain)
        if best is None:
            best = self._first_break_after_open(plain)
            notes.append(
                f"{v.crew.crew.code}: the break starts at {hhmm(self.clock.at(best[1][2]))}, "
                f"outside its window {hhmm(self.clock.at(v.break_earliest_s))}-"
                f"{hhmm(self.clock.at(v.break_latest_s))}"
            )
        return best

    def _best_break(self, plain: Times) -> tuple[Times, Break] | None:
        v = self.v
        best = None
        for k in range(len(self.nodes) - 1):
            begin = max(plain[k][2], v.break_earliest_s)
            if begin > v.break_latest_s:
                continue
            candidate, b = self.forward(k, v.break_earliest_s)
            if self.ok(candidate) and (best is None or candidate[-1][0] < best[0][-1][0]):
                best = (candidate, b)
        return best

    def _first_break_after_open(self, plain: Times) -> tuple[Times, Break]:
        # At the first point at or after the window opens: safe by construction.
        for k in range(len(self.nodes) - 1):
            if plain[k][2] >= self.v.break_earliest_s:
                return self.forward(k, self.v.break_earliest_s)
        return self.forward(len(self.nodes) - 2, self.v.break_earliest_s)


class _StopMaker:
    """The planned stops of a timed route, with the load carried and the trip number."""

    def __init__(self, v: Vehicle, nodes: list[int], *, group: SolvedGroup, clock: PlanClock):
        self.v = v
        self.nodes = nodes
        self.group = group
        self.at = clock.at
        self.load = 0
        self.trip = 0

    def stops(self, times: Times, brk: Break | None) -> list[PlannedStop]:
        nodes, group = self.nodes, self.group
        stops: list[PlannedStop] = [self.v.first_stop, *self.v.kept]
        for k in range(1, len(nodes)):
            node, prev = nodes[k], nodes[k - 1]
            if brk is not None and brk[0] == k - 1:
                stops.append(self._break(stops[-1].point, brk))
            leg_s = float(group.base_dur[prev - 1, node - 1])
            leg_m = float(group.instance.distances[prev - 1, node - 1])
            site_node = group.via.get((prev, node)) if node == nodes[-1] else None
            if site_node is not None:
                # The last leg home runs through a disposal site: shown as its own stop.
                left = times[k - 1][2] if not (brk and brk[0] == k - 1) else brk[3]
                stops.append(self._disposal_on_the_way(prev, site_node, left))
                leg_s = float(group.raw_dur[site_node - 1, node - 1])
                leg_m = float(group.raw_dist[site_node - 1, node - 1])
            stops.append(self._stop(node, times[k], leg_s, leg_m))
        return stops

    def _break(self, point: Point2, brk: Break) -> PlannedStop:
        return PlannedStop(
            StopKind.BREAK,
            point,
            self.at(brk[1]),
            self.at(brk[2]),
            self.at(brk[3]),
            service_s=brk[3] - brk[2],
            load_after=self.load,
            trip=self.trip,
        )

    def _site(self, node: int):
        return self.group.sites[node - 2 * self.group.instance.vehicles - 1]

    def _disposal_on_the_way(self, prev: int, site_node: int, left: float) -> PlannedStop:
        group = self.group
        site = self._site(site_node)
        leg_s = float(group.raw_dur[prev - 1, site_node - 1])
        leg_m = float(group.raw_dist[prev - 1, site_node - 1])
        there = left + leg_s
        done = there + float(group.unload[site_node - 1])
        stop = PlannedStop(
            StopKind.DISPOSAL,
            (site.location.x, site.location.y),
            self.at(there),
            self.at(there),
            self.at(done),
            travel_s=leg_s,
            distance_m=leg_m,
            service_s=done - there,
            load_after=0,
            trip=self.trip,
            disposal_site=site,
        )
        self.load = 0
        self.trip += 1
        return stop

    def _stop(self, node: int, time: tuple, leg_s: float, leg_m: float) -> PlannedStop:
        if node == self.nodes[-1]:
            arrival, start, _ = time
            return PlannedStop(
                StopKind.END,
                self.v.crew.depot,
                self.at(arrival),
                self.at(start),
                self.at(start),
                travel_s=leg_s,
                distance_m=leg_m,
                load_after=self.load,
                trip=self.trip,
            )
        if node <= self.group.depot_count:  # a disposal site
            return self._disposal_site(node, time, leg_s, leg_m)
        return self._job(node, time, leg_s, leg_m)

    def _disposal_site(self, node: int, time: tuple, leg_s: float, leg_m: float) -> PlannedStop:
        arrival, start, departure = time
        site = self._site(node)
        self.load = 0
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
            trip=self.trip,
            disposal_site=site,
        )
        self.trip += 1
        return stop

    def _job(self, node: int, time: tuple, leg_s: float, leg_m: float) -> PlannedStop:
        arrival, start, departure = time
        group = self.group
        item = group.kept_stops[node - group.depot_count - 1]
        window = group.stop_windows[item.key]
        has_load = self.v.crew.capacity is not None
        self.load += item.load if has_load else 0
        return PlannedStop(
            item.kind,
            item.point,
            self.at(arrival),
            self.at(start),
            self.at(departure),
            travel_s=leg_s,
            distance_m=leg_m,
            service_s=item.service_s,
            load=item.load if has_load else 0,
            load_after=self.load,
            trip=self.trip,
            stop=item,
            # The real latest start (the solver saw it brought forward by the break).
            window_end=item.due_at - timedelta(seconds=item.service_s) if window else None,
            due_at=item.due_at,
            late=bool(item.due_at and self.at(departure) > item.due_at),
        )


def route_totals(v: Vehicle, stops: list[PlannedStop], travel: TravelTimes) -> PlannedRoute:
    """The route of `stops` with its distance, driving, service, waiting, break and working
    time, its number of trips and the line to draw."""
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
    route.line = travel.line(points=points) if len(points) > 1 else []
    return route
