"""Recurring preventive work at a hotspot (services in fieldteams/preventive.py).

The table was created by the maps app and moved here (migration fieldteams 0005 renamed it); its
check constraint keeps the `maps_` name it was created with.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Now

from geo_ops.hotspots.models import HotspotCluster
from geo_ops.reports.models import Category


class PreventiveWork(models.Model):
    """A hotspot turned into recurring work: every `interval_days` a staff job at the hotspot's
    centre, dispatched to the responsible crew by fieldteams' dispatch service."""

    cluster = models.ForeignKey(
        HotspotCluster, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="+")
    subcategory = models.ForeignKey(
        Category, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    branch = models.ForeignKey(
        "layers.BranchMunicipality", on_delete=models.PROTECT, related_name="+"
    )
    location = models.PointField(srid=4326)
    hull = models.PolygonField(srid=4326, null=True, blank=True)
    description = models.TextField()
    interval_days = models.PositiveSmallIntegerField()
    next_due_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    last_report = models.ForeignKey(
        "reports.Report", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    jobs_created = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["next_due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_days__gte=1), name="maps_preventive_interval_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"preventive {self.category_id} every {self.interval_days} d at {self.location}"
