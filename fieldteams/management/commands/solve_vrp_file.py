"""Solve a CVRPLIB `.vrp` or LKH-3 `.vrptw` file with the route solver and print the routes."""

import json

from django.core.management.base import BaseCommand, CommandError

from fieldteams.routing.instances import InstanceFormatError, read_instance
from fieldteams.routing.solver import solve


class Command(BaseCommand):
    # No system checks: the command reads a file and solves it, with no database, URLs or
    # models; the URL check alone imports every view module (scipy, pandas, ...), seconds of
    # start-up that `--time-limit` does not count.
    requires_system_checks = []
    help = (
        "Solve a CVRPLIB .vrp or LKH-3 .vrptw instance file; routes use the file's node numbers "
        "and the distance uses the file's own convention (EUC_2D rounded, Solomon x10 truncated)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="instance file (.vrp or .vrptw)")
        parser.add_argument(
            "--time-limit", type=float, default=10.0, help="seconds of search (default 10)"
        )
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, path, time_limit, seed, format, **options):
        if time_limit <= 0:
            raise CommandError("--time-limit must be positive")
        try:
            instance = read_instance(path)
        except FileNotFoundError as exc:
            raise CommandError(f"no such file: {path}") from exc
        except (InstanceFormatError, OSError) as exc:
            raise CommandError(str(exc)) from exc

        solution = solve(instance=instance, time_limit_s=time_limit, seed=seed)

        if format == "json":
            self.stdout.write(
                json.dumps(
                    {
                        "instance": instance.name,
                        "routes": solution.routes,
                        "distance": solution.distance,
                    }
                )
            )
        else:
            limit = instance.vehicles if instance.vehicles is not None else "no limit"
            self.stdout.write(
                f"{instance.name}: {len(instance.customers)} customers, capacity "
                f"{instance.capacity}, vehicles {limit}, distances {instance.edge_weight_type}"
                + (f" x{instance.scale}" if instance.scale != 1 else "")
            )
            for number, route in enumerate(solution.details, start=1):
                self.stdout.write(
                    f"Route #{number} (load {sum(route.loads)}, distance {route.distance}): "
                    + " ".join(str(n) for n in route.visits)
                )
            self.stdout.write(
                f"Distance {solution.distance} with {solution.num_routes} routes, "
                f"{'feasible' if solution.feasible else 'NOT feasible'}, "
                f"{solution.runtime_s:.1f} s ({solution.solver}, seed {seed})"
            )
        if not solution.feasible:
            raise CommandError(
                "no feasible solution found within the time limit (vehicle limit, capacity or "
                "time windows violated); try a longer --time-limit"
            )
