"""Feasibility of a stored plan, checked from its rows (not from the planner's objects).

`plan_violations(plan=)` re-reads the routes and stops and checks every rule the plan promises:
each route starts and ends at the crew's depot within its shift; every leg's time and distance
match the travel-time provider and the times add up (arrival = departure + leg, service starts
no earlier than arrival and inside its window, departure = start + service); the break is taken,
long enough, inside its window; a truck's load never exceeds its capacity, is emptied at each
disposal site, which is visited while open, and the truck goes home empty; each job is on one
route at most and never both planned and dropped; and the crew is skilled for every job it was
given.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from ..models import CrewRoute, RouteDrop, RoutePlan, StopKind
from .inputs import crew_inputs
from .travel import travel_times

SLACK_S = 1.5  # rounding of the stored times


def plan_violations(*, plan: RoutePlan) -> list[str]:
    """Every broken rule of the stored plan as a readable line; [] when it is feasible."""
    errors: list[str] = []
    routes = list(
        CrewRoute.objects.filter(plan=plan)
        .select_related("crew")
        .prefetch_related("stops__report", "stops__cluster", "stops__disposal_site", "crew__skills")
    )
    provider = travel_times()
    same_provider = provider.name == plan.travel_times
    rules = {
        c.crew.pk: c for c in crew_inputs(crews=[r.crew for r in routes], plan_date=plan.plan_date)
    }
    seen: Counter = Counter()
    for route in routes:
        code = route.crew.code
        stops = list(route.stops.all())
        crew = rules[route.crew.pk]
        errors += [
            f"{code}: {e}" for e in _route_errors(route, stops, crew, provider, same_provider)
        ]
        for s in stops:
            for key in _keys(s):
                seen[key] += 1
            if s.report is not None and not (
                {s.report.category_id, s.report.subcategory_id} & crew.skill_ids
            ):
                errors.append(f"{code}: not skilled for report {s.report_id}")
            if s.cluster is not None and s.cluster.category_id not in crew.skill_ids:
                errors.append(f"{code}: not skilled for hotspot {s.cluster_id}")
    for key, count in seen.items():
        if count > 1:
            errors.append(f"{key} is on the routes {count} times")
    for drop in RouteDrop.objects.filter(plan=plan):
        for key in _keys(drop):
            if seen[key]:
                errors.append(f"{key} is both planned and dropped")
        if not drop.reason:
            errors.append(f"{next(iter(_keys(drop)), 'a stop')} dropped without a reason")
    return errors


def _keys(row) -> list[str]:
    if row.assignment_id:
        return [f"assignment {row.assignment_id}"]
    if row.report_id:
        return [f"report {row.report_id}"]
    if row.cluster_id:
        return [f"hotspot {row.cluster_id}"]
    return []


def _route_errors(route, stops, crew, provider, same_provider) -> list[str]:
    if len(stops) < 2 or stops[0].kind != StopKind.START or stops[-1].kind != StopKind.END:
        return ["a route must run from a start to an end"]
    errors = _shift_errors(route, stops)
    for prev, s in zip(stops, stops[1:], strict=False):
        errors += _time_errors(prev, s)
        errors += _leg_errors(route, prev, s, provider, same_provider)
    errors += _break_errors(stops, crew.break_rule, route.shift_end)
    errors += _load_errors(route, stops)
    return errors


def _shift_errors(route, stops) -> list[str]:
    """The route inside the shift, back at the crew's depot, its stops numbered without gaps."""
    errors: list[str] = []
    slack = timedelta(seconds=SLACK_S)
    if stops[0].departure_at < route.shift_start - slack:
        errors.append(f"leaves at {stops[0].departure_at} before the shift starts")
    if stops[-1].arrival_at > route.shift_end + slack:
        errors.append(f"back at {stops[-1].arrival_at:%H:%M:%S} after the shift end")
    depot = route.crew.depot
    if stops[-1].location.distance(depot) > 1e-7:
        errors.append("the route does not end at the crew's depot")
    if [s.sequence for s in stops] != list(range(len(stops))):
        errors.append("stop sequence has gaps")
    return errors


def _time_errors(prev, s) -> list[str]:
    """Time arithmetic of one stop after the previous one: the leg, service, windows, lateness."""
    errors: list[str] = []
    slack = timedelta(seconds=SLACK_S)
    where = f"stop {s.sequence} ({s.kind})"
    if s.kept and prev.kind == StopKind.START and s.travel_s == 0:
        pass  # a job in progress: the crew is already there
    elif s.arrival_at - prev.departure_at - timedelta(seconds=s.travel_s) > slack or (
        prev.departure_at + timedelta(seconds=s.travel_s) - s.arrival_at > slack
    ):
        errors.append(f"{where}: arrival does not follow the previous departure and the leg")
    if s.start_at < s.arrival_at - slack:
        errors.append(f"{where}: service starts before arrival")
    if abs((s.departure_at - s.start_at).total_seconds() - s.service_s) > SLACK_S:
        errors.append(f"{where}: departure is not start + service time")
    if s.window_start and s.start_at < s.window_start - slack:
        errors.append(f"{where}: starts before its window opens")
    if s.window_end and s.start_at > s.window_end + slack:
        errors.append(f"{where}: starts at {s.start_at:%H:%M} after its latest start")
    if s.due_at and s.late != (s.departure_at > s.due_at):
        errors.append(f"{where}: late flag wrong")
    return errors


def _leg_errors(route, prev, s, provider, same_provider) -> list[str]:
    """A break is taken where the crew is; any other leg agrees with the travel-time provider
    (when the plan was made with the same one; a job in progress has no leg)."""
    where = f"stop {s.sequence} ({s.kind})"
    if s.kind == StopKind.BREAK:
        if s.travel_s or s.location.distance(prev.location) > 1e-9:
            return [f"{where}: a break is taken where the crew is"]
        return []
    if not same_provider or (s.kept and s.travel_s == 0):
        return []
    errors: list[str] = []
    m = provider.matrices(
        points=[(prev.location.x, prev.location.y), (s.location.x, s.location.y)],
        vehicle_type=route.vehicle_type,
    )
    if abs(int(m.durations_s[0, 1]) - s.travel_s) > SLACK_S:
        errors.append(f"{where}: leg {s.travel_s} s, provider says {m.durations_s[0, 1]}")
    if abs(int(m.distances_m[0, 1]) - s.distance_m) > SLACK_S:
        errors.append(f"{where}: leg {s.distance_m} m, provider says {m.distances_m[0, 1]}")
    return errors


def _break_errors(stops, rule, shift_end) -> list[str]:
    """At most one break; taken, long enough and inside its window when the route needs one."""
    errors: list[str] = []
    slack = timedelta(seconds=SLACK_S)
    breaks = [s for s in stops if s.kind == StopKind.BREAK]
    if len(breaks) > 1:
        errors.append("more than one break")
    if rule is None:
        return errors
    needed = (
        stops[-1].arrival_at > rule.earliest
        and stops[0].departure_at < rule.latest
        and shift_end - rule.earliest > timedelta(minutes=rule.minutes)
    )
    if needed and not breaks:
        errors.append("no break although the route runs into the break window")
    for b in breaks:
        if b.service_s < rule.minutes * 60 - SLACK_S:
            errors.append(f"break of {b.service_s / 60:.0f} min < {rule.minutes} min")
        if not (rule.earliest - slack <= b.start_at <= rule.latest + slack):
            errors.append(f"break at {b.start_at:%H:%M} outside its window")
    return errors


def _load_errors(route, stops) -> list[str]:
    """Loads and disposal trips: recomputed along the route, never over the capacity, emptied
    at each disposal site (visited while open), home empty; no load on a vehicle without one."""
    errors: list[str] = []
    capacity = route.load_capacity
    load = 0
    for s in stops:
        if s.kind == StopKind.DISPOSAL:
            errors += _disposal_errors(route, s)
            load = 0
        else:
            load += s.load
        if s.load_after != load:
            errors.append(f"stop {s.sequence}: load after {s.load_after} != recomputed {load}")
        if capacity is not None and load > capacity:
            errors.append(f"stop {s.sequence}: load {load} > capacity {capacity}")
        if capacity is None and s.load:
            errors.append(f"stop {s.sequence}: a load on a vehicle without capacity")
    if capacity is not None and stops[-1].load_after:
        errors.append(f"back at the depot with a load of {stops[-1].load_after}")
    return errors


def _disposal_errors(route, s) -> list[str]:
    errors: list[str] = []
    if route.load_capacity is None:
        errors.append("a disposal trip on a vehicle without a load")
    site = s.disposal_site
    if site is not None:
        local = s.start_at.astimezone(route.shift_start.tzinfo)
        if not (site.opens <= local.time() <= site.closes):
            errors.append(f"disposal site {site.code} is closed at {local:%H:%M}")
    return errors
