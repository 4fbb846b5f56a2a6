"""Periodic recomputation of the default hotspot layers (the dashboard's first view).

`hotspots_recompute()` computes the clusters and the Gi* hexagons at every configured resolution
for the default period (all categories, all branches), so the dashboard and the API find a
current stored run instead of computing one on the first request. It runs as the Celery
task, `geo_ops.hotspots.tasks.recompute`, in settings.CELERY_BEAT_SCHEDULE (every
GEO_OPS_HOTSPOT_RECOMPUTE_EVERY_SECONDS, default an hour); `manage.py compute_hotspots` does the
same from a shell or cron.
"""

from celery import shared_task

from .clusters import hotspot_clusters_current
from .conf import get
from .filters import filters_from_params
from .hexagons import hotspot_hexagons_current


def hotspots_recompute() -> dict:
    """Bring the default layers up to date; returns the run ids (reused when data is unchanged)."""
    filters = filters_from_params({})
    runs = {"clusters": hotspot_clusters_current(filters=filters, trigger="schedule").pk}
    for resolution in get("GEO_OPS_HOTSPOT_H3_RESOLUTIONS"):
        hex_filters = filters_from_params({"resolution": str(resolution)})
        runs[f"hexagons_r{resolution}"] = hotspot_hexagons_current(
            filters=hex_filters, trigger="schedule"
        ).pk
    return runs


@shared_task(name="geo_ops.hotspots.tasks.recompute", ignore_result=True)
def recompute() -> dict:
    """Celery: bring the default hotspot layers up to date."""
    return hotspots_recompute()
