"""What the public may see of a report's location.

A category's `public_visibility` decides: "exact" shows the stored point, "coarse" snaps it to a
100 m grid (so a shop or a home cannot be singled out from a food-hygiene report), "hidden" shows
no location at all. The stricter of the category's and the subcategory's level applies.

Free text follows the location: a coarsened report's description or address could name the shop
its location hides, so the public sees them only for exact-location categories
(`public_text_expression()`).

Every public output (the public map and its data endpoints, the public reports API, Open311)
must take locations from `public_location_expression()`, and must filter by area on that
expression too: a bounding-box filter on the exact point would let a caller narrow a coarsened
report down to its exact position with ever smaller boxes. `public_bbox_filter()` does both
halves cheaply.
"""

from django.conf import settings
from django.contrib.gis.db.models import PointField
from django.contrib.gis.db.models.functions import SnapToGrid, Transform
from django.contrib.gis.geos import Polygon
from django.db.models import Case, F, Q, QuerySet, TextField, Value, When

from .models import PublicVisibility

# Grid of the coarsened locations, in metres of the metric CRS (settings.GEO_OPS_METRIC_SRID).
COARSE_GRID_M = 100


def _visibility_is(level: str, prefix: str) -> Q:
    return Q(**{f"{prefix}category__public_visibility": level}) | Q(
        **{f"{prefix}subcategory__public_visibility": level}
    )


def publicly_located(prefix: str = "") -> Q:
    """Reports whose location may be shown at all (not in a hidden category)."""
    return ~_visibility_is(PublicVisibility.HIDDEN, prefix)


def public_location_expression(field: str = "location", prefix: str = "") -> Case:
    """The location the public may see, as a WGS84 point expression (NULL when hidden).

    Snapping happens in the metric CRS because "100 m" must mean 100 m at every latitude
    (DESIGN.md: never measure in degrees). `prefix` is the path to the report from the queried
    model, e.g. "report__" for a query on ReportEvent.
    """
    location = F(f"{prefix}{field}")
    metric_srid = settings.GEO_OPS_METRIC_SRID
    coarse = Transform(SnapToGrid(Transform(location, metric_srid), COARSE_GRID_M), 4326)
    return Case(
        When(_visibility_is(PublicVisibility.HIDDEN, prefix), then=Value(None)),
        When(_visibility_is(PublicVisibility.COARSE, prefix), then=coarse),
        default=location,
        output_field=PointField(srid=4326),
    )


def public_text_expression(field: str, prefix: str = "") -> Case:
    """A free-text field of the report (description, address) as the public may see it: the
    text itself for exact-location categories, empty otherwise."""
    return Case(
        When(
            _visibility_is(PublicVisibility.HIDDEN, prefix)
            | _visibility_is(PublicVisibility.COARSE, prefix),
            then=Value(""),
        ),
        default=F(f"{prefix}{field}"),
        output_field=TextField(),
    )


def public_bbox_filter(
    queryset: QuerySet, bbox: Polygon, *, annotation: str = "public_location"
) -> QuerySet:
    """Reports whose public location lies in the bbox (WGS84 polygon).

    The exact point is first tested against the bbox grown by more than the snapping distance,
    which the GiST index answers; only those rows compute the public location and are tested
    against the bbox itself. Annotates `annotation` with the public location.
    """
    # 0.002 degrees is over 200 m in latitude and, at the Eastern Province's 24-29 degrees N,
    # over 180 m in longitude: more than a snapped point can move (at most 71 m diagonally).
    margin = 0.002
    xmin, ymin, xmax, ymax = bbox.extent
    grown = Polygon.from_bbox((xmin - margin, ymin - margin, xmax + margin, ymax + margin))
    grown.srid = 4326
    queryset = queryset.filter(location__bboverlaps=grown)
    if annotation not in queryset.query.annotations:
        queryset = queryset.annotate(**{annotation: public_location_expression()})
    return queryset.filter(**{f"{annotation}__intersects": bbox})
