"""The route planner: crews and stops in, routes with a schedule and the stops left out (with the
reason) back. No database access: fieldteams.routing.inputs reads the inputs and
fieldteams.routing.services stores the result. Here: the crews ready to plan, their grouping and
the run; fieldteams.routing.group_model builds each group's model for the solver and
fieldteams.routing.schedule turns its solved routes into times (plan_types: the data).

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

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from ..models import DropReason, StopKind
from .checks import check_solution
from .group_model import GroupModel, SolverInput, group_model, solved_group, solver_input
from .group_model import unservable as unservable_stops
from .inputs import STARTED_STATES, CrewInput, Point2, StopInput, day_origin
from .plan_types import (
    DroppedStop,
    PlanClock,
    PlannedRoute,
    PlannedStop,
    PlanOptions,
    PlanResult,
    Vehicle,
    hhmm,
)
from .schedule import schedule_route
from .solver import solve
from .travel import TravelTimes


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
        self.clock = PlanClock(self.origin)
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
        return self.clock.secs(moment)

    def at(self, seconds: float) -> datetime:
        return self.clock.at(seconds)

    # --- the run --------------------------------------------------------------------------------
    def run(self) -> PlanResult:
        started_clock = time.perf_counter()
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
            runtime_s=time.perf_counter() - started_clock,
        )

    def _drop(self, stop: StopInput, reason: str, detail: str) -> None:
        self.dropped.append(DroppedStop(stop, reason, detail))

    # --- vehicles -------------------------------------------------------------------------------
    def _vehicle(self, crew: CrewInput) -> Vehicle | None:
        if crew.shift is None:
            self.notes.append(f"{crew.crew.code} not planned: {crew.off_reason}")
            return None
        shift = crew.shift
        if self.now >= shift.end:
            crew.off_reason = f"the shift of {crew.crew.code} ended at {hhmm(shift.end)}"
            self.notes.append(f"{crew.crew.code} not planned: {crew.off_reason}")
            crew.shift = None
            return None
        start_at = max(shift.start, self.now)
        point = self.positions.get(crew.crew.pk, crew.depot)
        first = PlannedStop(StopKind.START, point, start_at, start_at, start_at)
        kept: list[PlannedStop] = []
        now_s = self.secs(start_at)
        for assignment, stop in self._started_order(crew):
            planned, end_s = self._kept_stop(crew, assignment, stop, point, now_s, start_at)
            kept.append(planned)
            point, now_s = stop.point, int(round(end_s))
        end_limit = self.secs(shift.end)
        break_s, earliest, latest = self._break_to_take(crew, now_s, end_limit)
        return Vehicle(
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

    def _kept_stop(
        self, crew: CrewInput, assignment, stop: StopInput, point: Point2, now_s: int, start_at
    ) -> tuple[PlannedStop, float]:
        """A job the crew has started, first on its route, reached from `point` at `now_s`;
        and when it ends on the plan clock."""
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
        planned = PlannedStop(
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
        return planned, end_s

    def _break_to_take(self, crew: CrewInput, now_s: int, end_limit: int) -> tuple[int, int, int]:
        """The break still to take from `now_s`: (length, earliest, latest start) in seconds;
        length 0 when none is."""
        rule = crew.break_rule
        break_s = earliest = latest = 0
        if rule is not None and rule.minutes and self.secs(rule.latest) > now_s:
            # Still to take (planning after the window has passed assumes it was taken).
            break_s = rule.minutes * 60
            earliest, latest = self.secs(rule.earliest), self.secs(rule.latest)
            if end_limit - break_s <= now_s:
                break_s = 0
        return break_s, earliest, latest

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
    def _groups(self, vehicles: list[Vehicle]) -> list[tuple[list[Vehicle], list[StopInput]]]:
        by_key: dict[tuple, list[Vehicle]] = defaultdict(list)
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
    def _solve_group(
        self, number: int, vehicles: list[Vehicle], stops: list[StopInput], limit_s: float
    ) -> list[PlannedRoute]:
        model = group_model(
            vehicles=vehicles,
            stops=stops,
            travel=self.travel,
            clock=self.clock,
            sla=self.options.sla,
        )
        # Stops no crew of the group can serve at all: out before solving, with the reason.
        keep, unservable = unservable_stops(model, clock=self.clock)
        for stop, reason, detail in unservable:
            self._drop(stop, reason, detail)
        problem = solver_input(model, keep=keep, name=f"group-{number + 1}")
        paths = self._solve(number, model, problem, limit_s) if problem.kept_stops else {}
        group = solved_group(model, problem)
        return [
            schedule_route(
                v,
                vi,
                paths.get(vi, []),
                group=group,
                clock=self.clock,
                notes=self.notes,
                travel=self.travel,
            )
            for vi, v in enumerate(vehicles)
        ]

    def _solve(
        self, number: int, model: GroupModel, problem: SolverInput, limit_s: float
    ) -> dict[int, list[int]]:
        """Each vehicle's stops in order (instance node numbers); the stops the solver left
        out are dropped with the reason, and its solution is checked independently."""
        solution = solve(
            instance=problem.instance,
            time_limit_s=limit_s,
            seed=self.options.seed,
            prizes=problem.prizes,
            fleet=problem.fleet,
        )
        errors = check_solution(
            problem.instance, solution, prizes=problem.prizes, fleet=problem.fleet
        )
        self.errors += [f"group {number + 1}: {e}" for e in errors]
        paths = {}
        for detail in solution.details:
            paths[detail.vehicle_type] = [s.node for s in detail.schedule[1:-1]]
        crews = ", ".join(v.crew.crew.code for v in model.vehicles)
        for node in solution.dropped:
            stop = problem.kept_stops[node - model.depot_count - 1]
            if model.stop_windows[stop.key]:
                self._drop(
                    stop,
                    DropReason.WINDOW,
                    f"due {hhmm(stop.due_at)}: {crews} cannot reach it in time together "
                    f"with their higher-priority jobs (priority {stop.priority})",
                )
            else:
                self._drop(
                    stop,
                    DropReason.NO_ROOM,
                    f"the shifts of {crews} are full; priority {stop.priority} is lower "
                    "than the jobs planned",
                )
        return paths

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
