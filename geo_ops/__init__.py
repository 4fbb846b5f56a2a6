"""geo_ops: geospatial field operations for a municipality's citizen-report service."""

# The Celery app is loaded with Django so that @shared_task uses it (Celery's Django recipe).
from .celery import app as celery_app

__all__ = ["celery_app"]
