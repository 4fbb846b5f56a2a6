"""The public map's summary: open reports counted per category on a fine grid.

At a low zoom level the public map shows counts per grid cell. Counting a million open reports on
every pan takes about a second (a full scan plus coarsening sensitive locations), so the counts
are kept per cell of a fine grid, and a request adds up the cells of its view instead: a few
thousand rows. The summary is rebuilt in one statement (see services.public_map_summary_refresh)
and the reports added since then are counted live, so a new report shows at once.
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import GistIndex
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from geo_ops.reports.models import Category

# Edge of a summary cell in degrees (about 500 m here). Display cells are power-of-two multiples
# of it, so summary cells nest exactly inside them.
SUMMARY_CELL_DEG = 0.005


class PublicMapCell(models.Model):
    """Open, publicly located reports of one category in one summary cell."""

    # Cell indexes: floor(longitude / SUMMARY_CELL_DEG), floor(latitude / SUMMARY_CELL_DEG) of the
    # public (possibly coarsened) location.
    cx = models.IntegerField()
    cy = models.IntegerField()
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    reports = models.PositiveIntegerField()
    # Sums, not means, so that cells merge into bigger ones exactly: mean = sum / reports.
    sum_lon = models.FloatField()
    sum_lat = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["cx", "cy"], name="maps_cell_xy")]
        constraints = [
            models.UniqueConstraint(fields=["cx", "cy", "category"], name="maps_cell_unique"),
        ]

    def __str__(self) -> str:
        return f"cell {self.cx},{self.cy} {self.category_id}: {self.reports}"


class PublicMapSummary(models.Model):
    """When the cells were last rebuilt (one row)."""

    refreshed_at = models.DateTimeField(db_default=Now())
    # The cells count the reports with an id up to this one; requests add the newer ones live
    # (found through the primary key, which stays cheap whatever order reports were loaded in).
    covers_up_to_id = models.BigIntegerField()
    reports = models.PositiveIntegerField(default=0)
    cells = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "public map summary"

    def __str__(self) -> str:
        return f"summary of {self.reports} reports at {self.refreshed_at}"


# --- hotspot analysis (maps/hotspots/) ------------------------------------------------------


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
    """Labels of the reduced emerging-hotspot analysis (maps/hotspots/trends.py)."""

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
