"""compute_hotspots, then the truth check of its clusters against the demo year's planted
hotspots (what `compute_hotspots --truth FILE` did before the demo left the shipped apps)."""

from pathlib import Path

from django.core.management.base import CommandError

from geo_ops.demo.truth import truth_check
from geo_ops.hotspots.management.commands.compute_hotspots import Command as ComputeHotspots


class Command(ComputeHotspots):
    help = (
        "Compute the hotspot layers as compute_hotspots does and check the clusters against the "
        "planted hotspots of generate_demo_data --truth-out."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--truth",
            type=Path,
            required=True,
            help="the planted hotspots: the file written by generate_demo_data --truth-out",
        )

    def handle(self, *args, **options):
        if not options["truth"].is_file():
            raise CommandError(f"--truth: no such file {options['truth']}")
        super().handle(*args, **options)
        for line in truth_check(run=self.clusters_run, truth=options["truth"]).lines():
            self.stdout.write(line)
