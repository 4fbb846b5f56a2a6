"""Plan a crew's day (or a department's crews in a branch) and print the suggested routes."""

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from fieldteams.api.routes import plan_data
from fieldteams.models import Crew, Department, PlanStatus
from fieldteams.routing.selectors import RouteAccess
from fieldteams.routing.services import PlanRequestError, route_plan_apply, route_plan_create
from layers.models import BranchMunicipality


class Command(BaseCommand):
    help = (
        "Suggest routes for one crew (--crew) or for the crews of a department in a branch "
        "(--department, --branch) on a date; the plan is stored (GET /api/v1/routes/{id}/)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--crew", help="crew code")
        parser.add_argument("--department", help="department code (with --branch)")
        parser.add_argument("--branch", help="branch municipality code")
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")
        parser.add_argument("--time-limit", type=float, help="solver seconds (default: setting)")
        parser.add_argument("--unassigned", action="store_true", help="add unassigned reports")
        parser.add_argument("--radius", type=float, help="metres for --unassigned")
        parser.add_argument("--hotspots", action="store_true", help="add hotspot cleanup stops")
        parser.add_argument("--sla", choices=["window", "penalty"], default="window")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--apply", action="store_true", help="hand moved jobs to the crews that will do them"
        )
        parser.add_argument(
            "--background", action="store_true", help="queue a Celery task instead of waiting"
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **o):
        plan_date = _plan_date(o["date"])
        crew = _find(Crew, o["crew"], "crew")
        department = _find(Department, o["department"], "department")
        branch = _find(BranchMunicipality, o["branch"], "branch municipality")
        try:
            plan = route_plan_create(
                plan_date=plan_date,
                crew=crew,
                department=department,
                branch=branch,
                options=_plan_options(o),
                actor_label="command:suggest_routes",
                background=o["background"],
            )
        except PlanRequestError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc.message}") from exc
        if o["background"]:
            self.stdout.write(f"plan {plan.pk} queued")
            return
        if plan.status != PlanStatus.DONE:
            raise CommandError(f"plan {plan.pk} failed: {plan.error}")
        if o["apply"]:
            changed = route_plan_apply(plan=plan, actor=None, actor_label="command:suggest_routes")
            self.stdout.write(f"{changed} jobs handed over")
        data = plan_data(plan, RouteAccess(planner=True))
        if o["format"] == "json":
            self.stdout.write(json.dumps(data, ensure_ascii=False))
        else:
            self._text(data)
        if plan.check_errors:
            raise CommandError(f"plan {plan.pk} is not feasible: {plan.check_errors[:3]}")

    def _text(self, data: dict) -> None:
        t = data["totals"]
        self.stdout.write(
            f"plan {data['id']} for {data['date']}: {t['jobs_planned']} stops planned, "
            f"{t['jobs_dropped']} left out, {t['distance_m'] / 1000:.1f} km, "
            f"{t['driving_s'] / 3600:.1f} h driving, {data['runtime_ms'] / 1000:.1f} s"
        )
        for note in data["notes"]:
            self.stdout.write(f"  note: {note}")
        for route in data["routes"]:
            rt = route["totals"]
            self.stdout.write(
                f"{route['crew']['code']} ({route['vehicle_type']}): {rt['jobs']} stops, "
                f"{rt['distance_m'] / 1000:.1f} km, {rt['trips']} trip(s), "
                f"{route['start_at'][11:16]}-{route['end_at'][11:16]}"
            )
            for stop in route["stops"]:
                what = stop["kind"]
                if stop["report"]:
                    what += f" {stop['report']['tracking_number']}"
                elif stop["hotspot"]:
                    what += f" {stop['hotspot']}"
                elif stop["disposal_site"]:
                    what += f" {stop['disposal_site']['code']}"
                flags = (" LATE" if stop["late"] else "") + (" (started)" if stop["kept"] else "")
                self.stdout.write(
                    f"  {stop['sequence']:>3} {stop['arrival_at'][11:16]} {what}{flags}"
                )
        for drop in data["dropped"]:
            what = drop["report"]["tracking_number"] if drop["report"] else drop["hotspot"]
            self.stdout.write(f"left out: {what} ({drop['reason']}): {drop['detail']}")


def _plan_date(value: str | None) -> date:
    try:
        return date.fromisoformat(value) if value else timezone.localdate()
    except ValueError as exc:
        raise CommandError("--date must be YYYY-MM-DD") from exc


def _find(model, code: str | None, what: str):
    """The row with this code, None when no code is given; a clear error for an unknown one."""
    if not code:
        return None
    row = model.objects.filter(code=code).first()
    if row is None:
        raise CommandError(f"no {what} {code!r}")
    return row


def _plan_options(o: dict) -> dict:
    """The plan options given on the command line (the rest take the settings' defaults)."""
    options = {
        "time_limit_s": o["time_limit"],
        "include_unassigned": o["unassigned"],
        "unassigned_radius_m": o["radius"],
        "include_hotspots": o["hotspots"],
        "sla": o["sla"],
        "seed": o["seed"],
    }
    return {k: v for k, v in options.items() if v is not None}
