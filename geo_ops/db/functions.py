"""Thin wrappers for PostGIS functions that Django does not provide (the map queries use them)."""

from django.contrib.gis.db.models.functions import GeomOutputGeoFunc
from django.db.models import FloatField, Func


class X(Func):
    """ST_X: a point's longitude (WGS84) or easting."""

    function = "ST_X"
    output_field = FloatField()


class Y(Func):
    """ST_Y: a point's latitude (WGS84) or northing."""

    function = "ST_Y"
    output_field = FloatField()


class SimplifyPreserveTopology(GeomOutputGeoFunc):
    """ST_SimplifyPreserveTopology(geometry, tolerance): fewer vertices, still valid polygons.

    The tolerance is in the geometry's units, so simplify in the metric CRS.
    """

    function = "ST_SimplifyPreserveTopology"
