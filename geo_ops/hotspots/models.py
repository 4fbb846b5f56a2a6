"""Hotspot analysis results: runs and their DBSCAN clusters and H3 Gi* hexagons.

The tables were created by the maps app and moved here (migration hotspots 0001 renamed them);
their index and constraint names keep the `maps_` prefix they were created with, since renaming
them would only churn the database.
"""

from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from geo_ops.reports.models import Category


class HotspotRun(models.Model):
    """One computation of a hotspot layer for one set of filters: what its results came from.

    Results are kept per run so that the API and the planner page read stored rows (fast) and a
    recomputation never changes a layer someone is looking at. A run is reused for the same
    filters and parameters while the data it was computed from is unchanged (`fingerprint`).
    """

    class Kind(models.TextChoices):
        CLUSTERS = "clusters", "DBSCAN clusters"
        HEXAGONS = "hexagons", "H3 hexagons with Getis-Ord Gi*"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The filters (None = all) and the analysed period [date_from, date_to).
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    branch = models.ForeignKey(
        "layers.BranchMunicipality",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    date_from = models.DateTimeField()
    date_to = models.DateTimeField()
    # Everything that decides the result besides the filters (eps and min points per category,
    # H3 resolution, permutations, seed, FDR), so a stored run says how it was made.
    params = models.JSONField(default=dict)
    # sha256 of kind + filters + params: the lookup key for reusing a run.
    signature = models.CharField(max_length=64)
    # count, highest id and latest update of the filtered reports when the run was computed.
    fingerprint = models.CharField(max_length=100)
    trigger = models.CharField(max_length=20, default="api")  # api, command, schedule, test
    reports = models.PositiveIntegerField(default=0)
    results = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(db_default=Now())
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["signature", "-started_at"], name="maps_run_signature")]
        permissions = [
            ("use_planner", "Can use the planner dashboard, the hotspot and KPI API and exports"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.date_from:%Y-%m-%d}..{self.date_to:%Y-%m-%d})"


class Trend(models.TextChoices):
    """Labels of the reduced emerging-hotspot analysis (geo_ops/hotspots/trends.py)."""

    NEW = "new", _("new")
    INTENSIFYING = "intensifying", _("intensifying")
    PERSISTENT = "persistent", _("persistent")
    DIMINISHING = "diminishing", _("diminishing")
    SPORADIC = "sporadic", _("sporadic")


class HotspotCluster(models.Model):
    """A DBSCAN cluster of one category's reports (ST_ClusterDBSCAN in the metric CRS)."""

    run = models.ForeignKey(HotspotRun, on_delete=models.CASCADE, related_name="clusters")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    # Convex hull of the cluster's reports (buffered by eps/4 when they are collinear), WGS84.
    hull = models.PolygonField(srid=4326)
    centroid = models.PointField(srid=4326)
    area_m2 = models.FloatField()
    report_count = models.PositiveIntegerField()
    open_count = models.PositiveIntegerField(default=0)
    first_report_at = models.DateTimeField()
    last_report_at = models.DateTimeField()
    dominant_subcategory = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    branch = models.ForeignKey(
        "layers.BranchMunicipality",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Reports per 30 days over the analysed period: how often the spot produces a report. It
    # orders the clusters and sets the suggested interval of preventive work.
    score = models.FloatField()
    eps_m = models.FloatField()
    min_points = models.PositiveIntegerField()
    trend = models.CharField(max_length=12, choices=Trend.choices, blank=True)
    trend_tau = models.FloatField(null=True, blank=True)
    trend_p = models.FloatField(null=True, blank=True)
    weekly_counts = models.JSONField(default=list)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [GistIndex(fields=["hull"], name="maps_cluster_hull_gist")]

    def __str__(self) -> str:
        return f"{self.category_id} cluster of {self.report_count} (run {self.run_id})"


class HotspotHexagon(models.Model):
    """One H3 cell of a Gi* run: its count, Getis-Ord Gi* z-score, p-value and confidence bin.

    No geometry column: the cell's hexagon follows from its index (h3.cell_to_boundary), which
    is cheaper to compute when a layer is sent than to store for every cell of every run.
    """

    run = models.ForeignKey(HotspotRun, on_delete=models.CASCADE, related_name="hexagons")
    h3_index = models.CharField(max_length=16)
    resolution = models.PositiveSmallIntegerField()
    report_count = models.PositiveIntegerField()
    z_score = models.FloatField()
    p_value = models.FloatField()
    # -3..+3: cold/hot spot at 99, 95, 90 % confidence (0: not significant).
    bin = models.SmallIntegerField()
    trend = models.CharField(max_length=12, choices=Trend.choices, blank=True)
    trend_tau = models.FloatField(null=True, blank=True)
    trend_p = models.FloatField(null=True, blank=True)
    weekly_counts = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "bin"], name="maps_hexagon_run_bin")]
        constraints = [
            models.CheckConstraint(condition=Q(bin__gte=-3, bin__lte=3), name="maps_hexagon_bin"),
        ]

    def __str__(self) -> str:
        return f"{self.h3_index}: {self.report_count} reports, bin {self.bin}"
