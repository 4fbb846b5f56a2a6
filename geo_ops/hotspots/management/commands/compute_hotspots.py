"""Compute and store the hotspot layers: DBSCAN clusters and Gi* hexagons for the filters."""

from django.core.management.base import BaseCommand, CommandError

from geo_ops.hotspots.clusters import hotspot_clusters_compute
from geo_ops.hotspots.filters import FilterError, filters_from_params
from geo_ops.hotspots.hexagons import hotspot_hexagons_compute
from geo_ops.hotspots.models import HotspotRun


class Command(BaseCommand):
    help = (
        "Cluster reports with DBSCAN per category (PostGIS) and compute H3 Gi* hexagons, "
        "storing both as runs the planner API and dashboard read."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="from", help="first day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--to", dest="to", help="last day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--category", help="a top-level category code")
        parser.add_argument("--branch", help="a branch municipality code")
        parser.add_argument(
            "--resolution", action="append", type=int, help="H3 resolution (repeatable, 7-9)"
        )
        parser.add_argument("--fdr", action="store_true", help="FDR-corrected Gi* bins")
        parser.add_argument("--no-hexagons", action="store_true", help="clusters only")

    # The clusters run of the last handle() (the demo app's check_demo_hotspots reads it).
    clusters_run: HotspotRun | None = None

    def handle(self, *args, **options):
        params = {key: options[key] for key in ("from", "to", "category", "branch") if options[key]}
        params["fdr"] = "true" if options["fdr"] else "false"
        try:
            filters = filters_from_params(params)
            resolutions = [
                filters_from_params({**params, "resolution": str(r)})
                for r in (options["resolution"] or [filters.resolution])
            ]
        except FilterError as error:
            raise CommandError(f"--{error.field}: {error.reason}") from error
        described = filters.describe()
        self.stdout.write(
            f"period {described['from']} .. {described['to']}, "
            f"category {described['category'] or 'all'}, branch {described['branch'] or 'all'}"
        )
        run = self.clusters_run = hotspot_clusters_compute(filters=filters, trigger="command")
        self.stdout.write(
            f"clusters: run {run.pk}, {run.results} clusters from {run.reports:,} reports "
            f"in {run.duration_ms} ms"
        )
        for code, table in run.params["dbscan"].items():
            self.stdout.write(
                f"  {code}: eps {table['eps_m']:g} m, min points {table['min_points']} "
                f"({table['reports']:,} reports)"
            )
        if not options["no_hexagons"]:
            for hex_filters in resolutions:
                hex_run = hotspot_hexagons_compute(filters=hex_filters, trigger="command")
                hot = hex_run.hexagons.filter(bin__gt=0).count()
                self.stdout.write(
                    f"hexagons: run {hex_run.pk}, resolution {hex_filters.resolution}, "
                    f"{hex_run.results:,} cells, {hot:,} hot, in {hex_run.duration_ms} ms"
                )
