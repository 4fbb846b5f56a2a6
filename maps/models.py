"""The public map's summary: open reports counted per category on a fine grid.

At a low zoom level the public map shows counts per grid cell. Counting a million open reports on
every pan takes about a second (a full scan plus coarsening sensitive locations), so the counts
are kept per cell of a fine grid, and a request adds up the cells of its view instead: a few
thousand rows. The summary is rebuilt in one statement (see services.public_map_summary_refresh)
and the reports added since then are counted live, so a new report shows at once.
"""

from django.contrib.gis.db import models
from django.db.models.functions import Now

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
