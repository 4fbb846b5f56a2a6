"""Route solver: the benchmark file formats, the PyVRP module, its options and the command.

No database: the solver works on `VrpInstance`s, and the command only reads a file. The
instances are three of the public ones, copied into tests/data/vrp (see tests/data/README.md):
the tests read nothing outside the repository (the benchmarks read the full sets elsewhere).
"""

import csv
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from fieldteams.routing.checks import check_solution, file_distance_units
from fieldteams.routing.instances import InstanceFormatError, parse_instance, read_instance
from fieldteams.routing.solver import Solution, VehicleSpec, solve

VRP_DATA = Path(__file__).resolve().parents[1] / "data" / "vrp"
A_N32_K5 = VRP_DATA / "Augerat_A" / "A-n32-k5.vrp"
C101 = VRP_DATA / "Solomon_100" / "C101.100.10.vrptw"
C201 = VRP_DATA / "Solomon_100" / "C201.100.3.vrptw"
with (VRP_DATA / "best_known.csv").open(newline="") as rows:
    BEST_KNOWN = {row["instance"]: float(row["best_known"]) for row in csv.DictReader(rows)}

# The proven optimum of A-n32-k5 (784), in CVRPLIB's solution numbering (customer = node - 1).
A_N32_K5_OPTIMUM = [
    [21, 31, 19, 17, 13, 7, 26],
    [12, 1, 16, 30],
    [27, 24],
    [29, 18, 8, 9, 22, 15, 10, 25, 5, 20],
    [14, 28, 11, 4, 23, 3, 2, 6],
]
# The optimum of C101 with 10 vehicles (827.3, Solomon convention), Solomon customer numbers
# (customer = node - 1).
C101_OPTIMUM = [
    [5, 3, 7, 8, 10, 11, 9, 6, 4, 2, 1, 75],
    [13, 17, 18, 19, 15, 16, 14, 12],
    [20, 24, 25, 27, 29, 30, 28, 26, 23, 22, 21],
    [32, 33, 31, 35, 37, 38, 39, 36, 34],
    [43, 42, 41, 40, 44, 46, 45, 48, 51, 50, 52, 49, 47],
    [57, 55, 54, 53, 56, 58, 60, 59],
    [67, 65, 63, 62, 74, 72, 61, 64, 68, 66, 69],
    [81, 78, 76, 71, 70, 73, 77, 79, 80],
    [90, 87, 86, 83, 82, 84, 85, 88, 89, 91],
    [98, 96, 95, 94, 92, 93, 97, 100, 99],
]


def as_nodes(routes: list[list[int]]) -> list[list[int]]:
    return [[c + 1 for c in route] for route in routes]


def tour_units(instance, routes: list[list[int]]) -> int:
    total = 0
    for route in routes:
        path = [instance.depot, *route, instance.depot]
        total += sum(
            int(instance.distances[instance.index(a), instance.index(b)])
            for a, b in zip(path, path[1:], strict=False)
        )
    return total


def manual_solution(instance, routes: list[list[int]]) -> Solution:
    units = tour_units(instance, routes)
    return Solution(
        instance=instance.name,
        routes=routes,
        distance=instance.from_units(units),
        distance_units=units,
        feasible=True,
    )


# --- parsing -------------------------------------------------------------------------------


def test_cvrplib_file_parsed_with_rounded_euclidean_distances():
    inst = read_instance(A_N32_K5)
    assert (inst.name, inst.dimension, inst.capacity, inst.vehicles) == ("A-n32-k5", 32, 100, 5)
    assert inst.depot == 1 and len(inst.customers) == 31 and 1 not in inst.customers
    assert tuple(inst.coordinates[inst.index(1)]) == (82, 76)
    assert tuple(inst.coordinates[inst.index(32)]) == (98, 5)
    assert inst.demand(2) == 19 and inst.demand(20) == 24 and sum(inst.demands) == 410
    assert inst.time_windows is None and inst.scale == 1
    # Node 1 (82, 76) to node 2 (96, 44): sqrt(14^2 + 32^2) = 34.93 -> 35 (nearest integer).
    assert inst.distance(1, 2) == 35
    # Node 1 to node 3 (50, 5): sqrt(32^2 + 71^2) = 77.88 -> 78 (rounded up, not truncated).
    assert inst.distance(1, 3) == 78
    # The proven optimal tour has length 784 under this convention and fits the trucks.
    routes = as_nodes(A_N32_K5_OPTIMUM)
    assert tour_units(inst, routes) == BEST_KNOWN["A-n32-k5"] == 784
    assert check_solution(inst, manual_solution(inst, routes)) == []


def test_lkh3_vrptw_file_parsed_in_the_solomon_convention():
    inst = read_instance(C101)
    assert (inst.name, inst.dimension, inst.capacity, inst.vehicles) == ("C101", 101, 200, 10)
    assert inst.edge_weight_type == "FLOOR_2D" and inst.scale == 10
    assert tuple(inst.coordinates[inst.index(1)]) == (40, 50)
    assert inst.demand(2) == 10 and inst.demand(101) == 20
    assert inst.time_windows[inst.index(1)] == (0, 1236)
    assert inst.time_windows[inst.index(2)] == (912, 967)
    assert inst.time_windows[inst.index(101)] == (647, 726)
    assert inst.service_times[inst.index(1)] == 0 and inst.service_times[inst.index(2)] == 90
    # Depot (40, 50) to node 2 (45, 68): sqrt(349) = 18.681 -> 18.6 (truncated, not 18.7).
    assert inst.distance(1, 2) == 18.6 and int(inst.distances[0, 1]) == 186
    # Depot to node 21 (30, 50): exactly 10.0, a perfect square must not truncate to 9.9.
    assert inst.distance(1, 21) == 10.0
    # The known optimum with 10 vehicles is 827.3 in this convention (with exact Euclidean
    # distances it would be 828.9), and meets every window.
    routes = as_nodes(C101_OPTIMUM)
    assert tour_units(inst, routes) == 8273 and BEST_KNOWN["C101"] == 827.3
    assert check_solution(inst, manual_solution(inst, routes)) == []


def test_checker_recomputes_distances_and_schedule_independently():
    inst = read_instance(C101)
    routes = as_nodes(C101_OPTIMUM)
    # The checker's own integer arithmetic agrees with the parsed matrix everywhere.
    assert all(
        file_distance_units(inst, a, b) == int(inst.distances[inst.index(a), inst.index(b)])
        for a in inst.node_ids[::7]
        for b in inst.node_ids
    )
    reversed_first = [routes[0][::-1], *routes[1:]]
    errors = check_solution(inst, manual_solution(inst, reversed_first))
    assert any("service starts at" in e for e in errors)
    wrong = manual_solution(inst, routes)
    wrong.distance_units += 1
    assert any("distance units" in e for e in check_solution(inst, wrong))
    merged = [routes[0] + routes[1], *routes[2:]]
    assert any("capacity" in e for e in check_solution(inst, manual_solution(inst, merged)))
    missing = [routes[0][1:], *routes[1:]]
    assert any("not visited" in e for e in check_solution(inst, manual_solution(inst, missing)))


def test_malformed_files_are_rejected_with_the_reason():
    header = "NAME : tiny\nTYPE : CVRP\nDIMENSION : 2\nCAPACITY : 10\nEDGE_WEIGHT_TYPE : EUC_2D\n"
    coords = "NODE_COORD_SECTION\n1 0 0\n2 3 4\n"
    good = parse_instance(header + coords + "DEMAND_SECTION\n1 0\n2 5\nDEPOT_SECTION\n1\n-1\nEOF")
    assert good.distance(1, 2) == 5 and good.customers == (2,) and good.vehicles is None
    with pytest.raises(InstanceFormatError, match="DEMAND_SECTION"):
        parse_instance(header + coords + "EOF")
    with pytest.raises(InstanceFormatError, match="EDGE_WEIGHT_TYPE"):
        parse_instance(header.replace("EUC_2D", "GEO") + coords)


# --- solving -------------------------------------------------------------------------------


def test_cvrp_instance_solved_near_the_optimum():
    inst = read_instance(A_N32_K5)
    solution = solve(instance=inst, time_limit_s=1.5, seed=1)
    assert solution.feasible and check_solution(inst, solution) == []
    assert solution.num_routes <= 5
    assert sorted(n for r in solution.routes for n in r) == list(range(2, 33))
    assert solution.distance <= BEST_KNOWN["A-n32-k5"] * 1.02
    assert solution.runtime_s < 3


def test_solomon_instance_feasible_under_windows_and_the_tight_fleet():
    inst = read_instance(C201)  # three vehicles of 700 for 100 customers, long windows
    solution = solve(instance=inst, time_limit_s=2.0)
    assert solution.feasible and check_solution(inst, solution) == []
    assert solution.num_routes <= 3
    assert solution.distance <= BEST_KNOWN["C201"] * 1.05
    # Distance reported exactly at 0.1 resolution in the file's convention.
    assert solution.distance == solution.distance_units / 10
    # The schedule is in file time units and meets each window.
    windows = dict(zip(inst.node_ids, inst.time_windows, strict=True))
    for detail in solution.details:
        for stop in detail.schedule:
            if stop.kind == "customer":
                early, late = windows[stop.node]
                assert early <= stop.start <= late
                assert stop.end == stop.start + 90


def test_tight_fleet_with_windows_is_feasible_within_a_short_limit():
    # C101: ten trucks at 90 % of their capacity, with windows. PyVRP's search started from a
    # random solution was still infeasible after 3 s on most seeds; the fleet-relaxed first
    # phase in solver.solve finds a fitting solution, here the optimum, within a second or two.
    inst = read_instance(C101)
    solution = solve(instance=inst, time_limit_s=1.5, seed=3)
    assert solution.feasible and check_solution(inst, solution) == []
    assert solution.num_routes <= 10
    assert solution.distance <= BEST_KNOWN["C101"] * 1.03


def test_prize_collecting_drops_low_priority_jobs_when_capacity_is_short():
    inst = read_instance(A_N32_K5)  # 410 units of demand
    fleet = [VehicleSpec(count=2)]  # two trucks of 100: at most 200 units can be served
    urgent = [2, 3, 4, 5, 6]  # 83 units, required
    prizes = {n: 1000 for n in inst.customers if n not in urgent}
    solution = solve(instance=inst, time_limit_s=1.0, prizes=prizes, fleet=fleet)
    assert check_solution(inst, solution, prizes=prizes, fleet=fleet) == []
    assert solution.feasible
    visited = {n for r in solution.routes for n in r}
    assert set(urgent) <= visited
    assert solution.dropped and set(solution.dropped) == set(inst.customers) - visited
    assert set(solution.dropped) <= set(prizes)
    assert sum(inst.demand(n) for n in solution.dropped) >= 410 - 200
    assert solution.collected_prize == 1000 * len(visited - set(urgent))


def test_reload_trips_and_a_second_depot():
    inst = dataclasses.replace(read_instance(A_N32_K5), other_depots=(26,))
    # Two trucks from depot 1 may unload at node 26 (a disposal site) and end there; one
    # truck based at node 26.
    fleet = [
        VehicleSpec(count=2, start_depot=1, end_depot=26, reload_depots=(26,), max_reloads=3),
        VehicleSpec(count=1, start_depot=26, capacity=50),
    ]
    solution = solve(instance=inst, time_limit_s=1.0, fleet=fleet)
    assert solution.feasible and check_solution(inst, solution, fleet=fleet) == []
    assert 26 not in {n for r in solution.routes for n in r}
    assert len(solution.routes) <= 3
    # 410 - 24 (node 26's own demand) units, at most 250 per round without unloading: reloads.
    assert sum(len(d.reloads) for d in solution.details) >= 1
    for detail in solution.details:
        spec = fleet[detail.vehicle_type]
        assert (detail.start_depot, detail.end_depot) == (
            spec.start_depot,
            spec.end_depot or spec.start_depot,
        )
        assert all(load <= (spec.capacity or 100) for load in detail.loads)
        assert [s.kind for s in detail.schedule].count("reload") == len(detail.reloads)


# --- the command ---------------------------------------------------------------------------


def test_command_prints_json_with_file_node_numbers_and_distance():
    out = io.StringIO()
    call_command(
        "solve_vrp_file", str(A_N32_K5), "--time-limit", "1", "--format", "json", stdout=out
    )
    result = json.loads(out.getvalue())
    assert set(result) == {"instance", "routes", "distance"}
    assert result["instance"] == "A-n32-k5"
    assert sorted(n for r in result["routes"] for n in r) == list(range(2, 33))
    assert len(result["routes"]) <= 5
    inst = read_instance(A_N32_K5)
    assert result["distance"] == tour_units(inst, result["routes"])
    assert result["distance"] <= BEST_KNOWN["A-n32-k5"] * 1.03


def test_command_text_summary_and_errors(tmp_path):
    out = io.StringIO()
    call_command("solve_vrp_file", str(C201), "--time-limit", "1", stdout=out)
    text = out.getvalue()
    assert text.startswith("C201: 100 customers, capacity 700, vehicles 3")
    assert "Route #1" in text and "routes, feasible," in text
    with pytest.raises(CommandError, match="no such file"):
        call_command("solve_vrp_file", str(tmp_path / "missing.vrp"))
    bad = tmp_path / "bad.vrp"
    bad.write_text("NAME : bad\nDIMENSION : x\n")
    with pytest.raises(CommandError, match="DIMENSION"):
        call_command("solve_vrp_file", str(bad))


# --- start-up ------------------------------------------------------------------------------


def test_the_solver_library_loads_only_to_solve():
    # What a web worker or a command imports of route planning (the API views, the services,
    # the tasks, the commands) must not import PyVRP or OR-Tools: they load inside the
    # functions that solve, so start-up does not pay for them.
    code = (
        "import sys, django; django.setup(); "
        "import fieldteams.api.routes, fieldteams.routing.services, fieldteams.routing.tasks, "
        "fieldteams.routing.validate, fieldteams.management.commands.solve_vrp_file, "
        "fieldteams.management.commands.suggest_routes; "
        "print(sorted(m for m in ('pyvrp', 'ortools') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "geo_ops.settings.test"}
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
