"""Periodic recomputation of the default hotspot layers (the dashboard's first view).

`hotspots_recompute()` computes the clusters and the Gi* hexagons at every configured resolution
for the default period (all categories, all branches), so the dashboard and the API find a
current stored run instead of computing one on the first request. It is a Celery task when Celery
is installed (scheduled every GEO_OPS_HOTSPOT_RECOMPUTE_SECONDS by `beat_schedule()` below, which
the Celery app adds to its beat schedule); without Celery, run `manage.py compute_hotspots` from
cron.
"""

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


def beat_schedule() -> dict:
    """The entry for Celery beat: `app.conf.beat_schedule.update(beat_schedule())`."""
    return {
        "maps-hotspots-recompute": {
            "task": "maps.hotspots.tasks.recompute",
            "schedule": float(get("GEO_OPS_HOTSPOT_RECOMPUTE_SECONDS")),
        }
    }


try:  # Celery is optional: the project runs without a worker too.
    from celery import shared_task
except ImportError:  # pragma: no cover - depends on the installation
    recompute = None
else:
    recompute = shared_task(name="maps.hotspots.tasks.recompute", ignore_result=True)(
        hotspots_recompute
    )
