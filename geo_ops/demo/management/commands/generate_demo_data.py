"""Generate and load the demo year through the same set-based path as import_reports."""

import json
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from geo_ops.demo.year import demo_year_generate
from geo_ops.reports.bulk import reports_import


class Command(BaseCommand):
    help = (
        "Generate a demo year of reports reproducing the 940 hotline's annual figures and load it "
        "with the bulk import (deterministic for a seed; re-running adds nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, default=2025)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--scale", type=float, default=1.0, help="10 gives ten times the volume"
        )
        parser.add_argument(
            "--truth-out", type=Path, help="write planted hotspots and figures here"
        )
        parser.add_argument("--csv-out", type=Path, help="also keep the generated CSV here")

    def handle(self, *args, **options):
        if options["scale"] <= 0:
            raise CommandError("--scale must be positive")
        started = time.perf_counter()
        demo = demo_year_generate(
            year=options["year"], seed=options["seed"], scale=options["scale"]
        )
        generated = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            path = options["csv_out"] or Path(folder) / "demo.csv"
            demo.write_csv(path)
            summary = reports_import(path=path, commit=True, actor_label="generate_demo_data")
        if options["truth_out"]:
            options["truth_out"].write_text(json.dumps(demo.truth(), ensure_ascii=False, indent=2))
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(
            f"generated {len(demo.rows):,} reports in {generated - started:.1f} s, "
            f"loaded in {time.perf_counter() - generated:.1f} s"
        )
        if summary.rejected:
            raise CommandError(f"{summary.rejected} generated rows were rejected; see above")
