"""Rebuild the public map's per-cell summary now (cron or a task queue can call this; the map
also rebuilds it by itself when it is older than GEO_OPS_PUBLIC_MAP_SUMMARY_TTL seconds)."""

from django.core.management.base import BaseCommand

from maps.services import public_map_summary_refresh


class Command(BaseCommand):
    help = "Rebuild the public map's summary of open reports per grid cell."

    def handle(self, *args, **options):
        summary = public_map_summary_refresh()
        self.stdout.write(
            f"public map summary: {summary.reports} open reports in {summary.cells} cells "
            f"({summary.duration_ms} ms)"
        )
