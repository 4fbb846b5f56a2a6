"""Boundary layers. Each polygon layer has two side tables that point joins use: its subdivided
pieces (every exact point-in-polygon test) and its interior grid cells (most points of a bulk
import, placed by key without any geometry test)."""

from django.contrib.gis.db import models
from django.contrib.gis.db.models.functions import IsValid
from django.contrib.postgres.indexes import GistIndex


class Boundary(models.Model):
    """An administrative area with a natural code, bilingual names and a valid MultiPolygon."""

    code = models.CharField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200, blank=True)
    population = models.PositiveIntegerField(null=True, blank=True)
    geom = models.MultiPolygonField(srid=4326)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name_en})"


class BranchMunicipality(Boundary):
    """A branch municipality (البلدية الفرعية): the unit reports are routed and counted by."""

    class Meta(Boundary.Meta):
        verbose_name_plural = "branch municipalities"
        indexes = [GistIndex(fields=["geom"], name="layers_branch_geom_gist")]
        constraints = [
            models.CheckConstraint(condition=IsValid("geom"), name="layers_branch_geom_valid"),
        ]


class BranchMunicipalityPiece(models.Model):
    """One ST_Subdivide piece of a branch polygon.

    A coastline polygon of 10,000 vertices has a bounding box covering half the province, so a
    point join against it tests every vertex; the pieces have at most a hundred or so vertices and
    tight boxes, which makes the GiST-filtered point-in-polygon test cheap.
    """

    branch = models.ForeignKey(BranchMunicipality, on_delete=models.CASCADE, related_name="pieces")
    geom = models.PolygonField(srid=4326)

    class Meta:
        indexes = [GistIndex(fields=["geom"], name="layers_branchpiece_geom_gist")]


class BranchMunicipalityCell(models.Model):
    """A square of the lon/lat grid (layers.selectors.GRID_LEVELS) lying in one branch's interior.

    Every point in the square is inside that branch and on no other boundary, so a bulk import
    places such points by a hash join on the key instead of a point-in-polygon test. Squares that
    a boundary crosses are not stored: their points take the exact join through the pieces.
    `cell` is the key of `layers.selectors.grid_cell_sql` (the grid level is part of it).
    Rebuilt for the whole layer whenever a boundary changes (layers.services).
    """

    cell = models.BigIntegerField(primary_key=True)
    branch = models.ForeignKey(
        BranchMunicipality, on_delete=models.CASCADE, related_name="cells", db_index=False
    )


class District(Boundary):
    """An optional finer layer (a neighbourhood or district) inside a branch municipality."""

    branch = models.ForeignKey(
        BranchMunicipality,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="districts",
    )

    class Meta(Boundary.Meta):
        indexes = [GistIndex(fields=["geom"], name="layers_district_geom_gist")]
        constraints = [
            models.CheckConstraint(condition=IsValid("geom"), name="layers_district_geom_valid"),
        ]


class DistrictPiece(models.Model):
    """One ST_Subdivide piece of a district polygon (see BranchMunicipalityPiece)."""

    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="pieces")
    geom = models.PolygonField(srid=4326)

    class Meta:
        indexes = [GistIndex(fields=["geom"], name="layers_districtpiece_geom_gist")]


class DistrictCell(models.Model):
    """A grid square lying in one district's interior (see BranchMunicipalityCell)."""

    cell = models.BigIntegerField(primary_key=True)
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, related_name="cells", db_index=False
    )
