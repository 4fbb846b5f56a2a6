"""Celery tasks of maps (found by the Celery app's autodiscovery): the hotspot recomputation."""

from maps.hotspots.tasks import recompute

__all__ = ["recompute"]
