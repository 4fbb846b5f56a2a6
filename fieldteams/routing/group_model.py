"""The solver's model of one group of crews (see fieldteams.routing.planner for how the day is
modelled): the nodes and their matrices, with unloading and a truck's way home through a disposal
site; the windows on the plan clock and the prizes; the stops no crew of the group can serve at
all (left out before solving, with the reason); and the VrpInstance and fleet handed to
fieldteams.routing.solver, with what scheduling needs to read the solved routes back.

Node order (the full matrices): each vehicle's start, each vehicle's end depot, the disposal
sites (these `depot_count` nodes are the solver's depots), then the stops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..models import DropReason
from .inputs import Point2, StopInput
from .instances import VrpInstance
from .plan_types import HORIZON_S, PlanClock, Vehicle, hhmm
from .solver import VehicleSpec
from .travel import TravelTimes


@dataclass
class GroupModel:
    """One group's nodes and matrices (full node order, 0-based), windows and prizes."""

    vehicles: list[Vehicle]
    stops: list[StopInput]
    sites: list  # DisposalSite rows (trucks only)
    points: list[Point2]
    depot_count: int
    has_load: bool
    dist: np.ndarray  # what the solver sees: metres, the way home through a site included
    dur: np.ndarray  # what the solver sees: seconds, unloading added to legs leaving a site
    base_dur: np.ndarray  # as `dur` without the unloading (that is the site's service time)
    raw_dur: np.ndarray  # straight legs, no way home through a site
    raw_dist: np.ndarray
    unload: np.ndarray  # unloading seconds per node (disposal sites; 0 elsewhere)
    via: dict[tuple[int, int], int]  # (stop, end depot) -> site, full-matrix indices
    windows: list[tuple[float, float]] = field(default_factory=list)
    stop_windows: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    prizes_by_key: dict[str, int] = field(default_factory=dict)

    @property
    def n_v(self) -> int:
        return len(self.vehicles)


@dataclass(frozen=True)
class SolverInput:
    """The solver's instance over the servable stops, its fleet and the prizes."""

    instance: VrpInstance
    fleet: list[VehicleSpec]
    prizes: dict[int, int]
    kept_stops: list[StopInput]
    node_index: list[int]  # instance node n (1-based) is full-matrix index node_index[n - 1]


@dataclass(frozen=True)
class SolvedGroup:
    """What scheduling needs of a group: the solver's instance and matrices on its node numbers
    (1-based; rows and columns of the arrays below are node - 1)."""

    instance: VrpInstance
    kept_stops: list[StopInput]
    depot_count: int
    sites: list
    base_dur: np.ndarray
    raw_dur: np.ndarray
    raw_dist: np.ndarray
    via: dict[tuple[int, int], int]  # (stop, end depot) -> site, instance node numbers
    unload: np.ndarray
    stop_windows: dict[str, tuple[int, int] | None]


# --- nodes and matrices ---------------------------------------------------------------------


def group_model(
    *,
    vehicles: list[Vehicle],
    stops: list[StopInput],
    travel: TravelTimes,
    clock: PlanClock,
    sla: str,
) -> GroupModel:
    """The group's nodes, matrices, windows and prizes."""
    has_load = vehicles[0].crew.capacity is not None
    sites = _disposal_sites(vehicles) if has_load else []
    n_v = len(vehicles)
    points: list[Point2] = [v.start_point for v in vehicles] + [v.crew.depot for v in vehicles]
    points += [(s.location.x, s.location.y) for s in sites]
    depot_count = len(points)
    points += [s.point for s in stops]
    matrices = travel.matrices(points=points, vehicle_type=vehicles[0].crew.vehicle_type)
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
    model = GroupModel(
        vehicles=vehicles,
        stops=stops,
        sites=sites,
        points=points,
        depot_count=depot_count,
        has_load=has_load,
        dist=dist,
        dur=dur,
        base_dur=base_dur,
        raw_dur=base_dur.copy(),
        raw_dist=dist.copy(),
        unload=unload,
        via={},
    )
    if has_load and sites and len(points) > depot_count:
        _home_through_sites(model)
    _set_windows(model, clock=clock, sla=sla)
    return model


def _disposal_sites(vehicles: list[Vehicle]) -> list:
    """The disposal sites of the group's trucks, each once, in the crews' order."""
    sites = []
    seen = set()
    for v in vehicles:
        for site in v.crew.disposal_sites:
            if site.pk not in seen:
                seen.add(site.pk)
                sites.append(site)
    return sites


def _home_through_sites(model: GroupModel) -> None:
    # Trucks empty before going home: every leg from a stop to a truck's depot runs through
    # its best disposal site, unloading included (the solver sees the whole detour).
    n_v, depot_count = model.n_v, model.depot_count
    raw_dur, raw_dist, unload = model.raw_dur, model.raw_dist, model.unload
    site_idx = np.arange(2 * n_v, depot_count)
    clients = np.arange(depot_count, len(model.points))
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
            model.via[(int(c), end)] = site
            model.dur[c, end] = raw_dur[c, site] + unload[site] + raw_dur[site, end]
            model.base_dur[c, end] = model.dur[c, end]
            model.dist[c, end] = raw_dist[c, site] + raw_dist[site, end]


# --- windows and prizes ---------------------------------------------------------------------


def _set_windows(model: GroupModel, *, clock: PlanClock, sla: str) -> None:
    """Windows on the plan clock for every node; each stop's window (None: no window) and prize."""
    vehicles = model.vehicles
    windows: list[tuple[float, float]] = []
    for v in vehicles:
        windows.append((v.start_s, HORIZON_S))
    for v in vehicles:
        windows.append((0, v.end_s))
    for site in model.sites:
        opens = site.opens.hour * 3600 + site.opens.minute * 60
        closes = site.closes.hour * 3600 + site.closes.minute * 60
        windows.append((0, HORIZON_S) if closes - opens >= 24 * 3600 - 120 else (opens, closes))
    max_break = max(v.break_s for v in vehicles)
    break_open = min((v.break_earliest_s for v in vehicles if v.break_s), default=HORIZON_S)
    shift_end = max(v.end_s + v.break_s for v in vehicles)
    for j, stop in enumerate(model.stops):
        node = model.depot_count + j
        prize = stop.prize
        window = None
        if stop.due_at is not None:
            due_s = clock.secs(stop.due_at)
            if sla == "penalty":
                if due_s <= shift_end:
                    prize *= 2
            else:
                window = _due_window(model, node, stop, due_s, max_break, break_open)
        model.stop_windows[stop.key] = window
        windows.append(window or (0, HORIZON_S))
        model.prizes_by_key[stop.key] = prize
    model.windows = windows


def _due_window(
    model: GroupModel, node: int, stop: StopInput, due_s: int, max_break: int, break_open: int
) -> tuple[int, int] | None:
    """The SLA due time as a hard latest start, brought forward by the break when it falls
    after the break window opens; None when no crew could meet it."""
    latest = due_s - int(stop.service_s)
    if max_break and latest >= break_open:
        latest -= max_break
    reachable = min(v.start_s + int(model.dur[vi, node]) for vi, v in enumerate(model.vehicles))
    # A due time no crew can meet whatever the plan gets no window: the job is
    # planned and flagged late rather than left out.
    if reachable <= latest < HORIZON_S:
        return (0, latest)
    return None


# --- stops no crew of the group can serve ---------------------------------------------------


def unservable(model: GroupModel, *, clock: PlanClock) -> tuple[list[int], list[tuple]]:
    """Stops no crew of the group can serve at all, out before solving: the indices of the
    stops kept, and (stop, reason, detail) for each one left out."""
    capacity_max = max((v.crew.capacity or 0) for v in model.vehicles)
    keep: list[int] = []
    dropped: list[tuple] = []
    for j, stop in enumerate(model.stops):
        node = model.depot_count + j
        if model.has_load and stop.load > capacity_max:
            detail = f"load {stop.load} > the largest truck's {capacity_max}"
            dropped.append((stop, DropReason.TOO_HEAVY, detail))
        elif not _fits_a_crew(model, node, stop):
            dropped.append((stop, *_why_not(model, node, stop, clock)))
        else:
            keep.append(j)
    return keep, dropped


def _fits_a_crew(model: GroupModel, node: int, stop: StopInput) -> bool:
    """Some crew can go there (in its window) and back within its shift."""
    window = model.stop_windows[stop.key]
    for vi, v in enumerate(model.vehicles):
        there = v.start_s + int(model.dur[vi, node])
        if window and there > window[1]:
            continue
        back = there + int(stop.service_s) + int(model.dur[node, model.n_v + vi])
        if back <= v.end_s:
            return True
    return False


def _why_not(model: GroupModel, node: int, stop: StopInput, clock: PlanClock) -> tuple[str, str]:
    window = model.stop_windows[stop.key]
    if window and all(
        v.start_s + int(model.dur[vi, node]) > window[1] for vi, v in enumerate(model.vehicles)
    ):
        return (
            DropReason.WINDOW,
            f"due {hhmm(stop.due_at)}: no crew can reach it before "
            f"{hhmm(clock.at(window[1]))} (its latest start)",
        )
    return (
        DropReason.TOO_FAR,
        "going there and back with its service time does not fit in the rest of the shift",
    )


# --- the solver's instance ------------------------------------------------------------------


def solver_input(model: GroupModel, *, keep: list[int], name: str) -> SolverInput:
    """The instance over the depots and the stops kept, its fleet (one vehicle per crew) and the
    prizes, on the solver's node numbers (full-matrix index + 1 for the depots)."""
    depot_count, n_v, has_load = model.depot_count, model.n_v, model.has_load
    kept_stops = [model.stops[j] for j in keep]
    node_index = list(range(depot_count)) + [depot_count + j for j in keep]
    idx = np.array(node_index)
    sub_dist, sub_dur = model.dist[np.ix_(idx, idx)], model.dur[np.ix_(idx, idx)]
    service = [0.0] * depot_count + [s.service_s for s in kept_stops]
    demands = [0] * depot_count + [s.load if has_load else 0 for s in kept_stops]
    instance = VrpInstance(
        name=name,
        node_ids=tuple(range(1, len(node_index) + 1)),
        depot=1,
        coordinates=np.array([model.points[i] for i in node_index], dtype=np.float64),
        demands=tuple(demands),
        capacity=max((v.crew.capacity or 0) for v in model.vehicles),
        vehicles=n_v,
        distances=np.ascontiguousarray(sub_dist, dtype=np.int64),
        durations=np.ascontiguousarray(sub_dur, dtype=np.int64),
        time_windows=tuple((float(a), float(b)) for a, b in (model.windows[i] for i in node_index)),
        service_times=tuple(float(s) for s in service),
        other_depots=tuple(range(2, depot_count + 1)),
    )
    site_nodes = tuple(2 * n_v + i + 1 for i in range(len(model.sites)))
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
        for vi, v in enumerate(model.vehicles)
    ]
    prizes = {depot_count + k + 1: model.prizes_by_key[s.key] for k, s in enumerate(kept_stops)}
    return SolverInput(instance, fleet, prizes, kept_stops, node_index)


def solved_group(model: GroupModel, problem: SolverInput) -> SolvedGroup:
    """The group's matrices cut to the solver's nodes, for scheduling its routes."""
    idx = np.array(problem.node_index)
    sub = {full: k for k, full in enumerate(problem.node_index)}  # full-matrix index -> sub index
    return SolvedGroup(
        instance=problem.instance,
        kept_stops=problem.kept_stops,
        depot_count=model.depot_count,
        sites=model.sites,
        base_dur=model.base_dur[np.ix_(idx, idx)],
        raw_dur=model.raw_dur[np.ix_(idx, idx)],
        raw_dist=model.raw_dist[np.ix_(idx, idx)],
        via={
            (sub[c] + 1, sub[e] + 1): sub[site] + 1
            for (c, e), site in model.via.items()
            if c in sub
        },
        unload=model.unload[idx],
        stop_windows=model.stop_windows,
    )
