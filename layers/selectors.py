"""Reads of the boundary layers: point-to-boundary lookups, single and set-based.

Every lookup goes through the subdivided piece tables. A point on an edge shared by two areas
touches both; the lower id wins, in the ORM selectors and in the set-based SQL alike, so a report
joins to the same branch whichever path stored it.
"""

from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import QuerySet

from geo_ops.reports.selectors import PreparedStatement

from .models import BranchMunicipality, District


def branch_for_point(*, point: Point) -> BranchMunicipality | None:
    """The branch municipality containing the point (WGS84), or None outside the service area."""
    return BranchMunicipality.objects.filter(pieces__geom__intersects=point).order_by("id").first()


def district_for_point(*, point: Point) -> District | None:
    """The district containing the point, or None where no district layer covers it."""
    return District.objects.filter(pieces__geom__intersects=point).order_by("id").first()


def boundaries_for_point(*, point: Point) -> tuple[BranchMunicipality | None, int | None]:
    """(branch municipality, district id) containing the point (WGS84), in one statement.

    The live-intake join (bench/live_intake.py). Raw SQL through `boundary_join_sql` because the
    ORM cannot put both LATERAL lookups in one statement; that also makes the single-report path
    use the very join, and tie-break, of the set-based statements. One round trip instead of
    two, and the branch comes back without `geom` (deferred): a coastline polygon is 100-250 kB
    of WKB that intake never reads, and fetching and parsing it cost more than the join itself.
    """
    if point.srid and point.srid != 4326:
        point = point.transform(4326, clone=True)
    with connection.cursor() as cursor:
        BOUNDARIES_STATEMENT.prepare(cursor)
    branch = next(
        iter(
            BranchMunicipality.objects.raw(
                BOUNDARIES_STATEMENT.execute_sql, {"lon": point.x, "lat": point.y}
            )
        ),
        None,
    )
    if branch is None:
        return None, None
    return branch, branch.district_join_id


def branch_list() -> QuerySet[BranchMunicipality]:
    """All branch municipalities, by code."""
    return BranchMunicipality.objects.order_by("code")


def boundary_join_sql(*, point_sql: str) -> str:
    """LATERAL joins adding `branch_id` and `district_id` columns for the point expression.

    For set-based statements (bulk import, re-join after a boundary change), where the ORM cannot
    express a LATERAL subquery. `point_sql` must be a trusted SQL expression yielding an
    SRID 4326 point, e.g. a column name. LIMIT 1 with the id order applies the same tie-break as
    the ORM selectors above.
    """
    return f"""
        LEFT JOIN LATERAL (
            SELECT piece.branch_id FROM layers_branchmunicipalitypiece AS piece
            WHERE ST_Intersects(piece.geom, {point_sql})
            ORDER BY piece.branch_id LIMIT 1
        ) AS branch_join ON true
        LEFT JOIN LATERAL (
            SELECT piece.district_id FROM layers_districtpiece AS piece
            WHERE ST_Intersects(piece.geom, {point_sql})
            ORDER BY piece.district_id LIMIT 1
        ) AS district_join ON true
    """


# Intake runs this on every report: a prepared statement, planned once per connection.
BOUNDARIES_STATEMENT = PreparedStatement(
    "layers_boundaries_for_point",
    f"""
    SELECT b.id, b.code, b.name_en, b.name_ar, b.population, b.updated_at,
           district_join.district_id AS district_join_id
    FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS point) AS p
    {boundary_join_sql(point_sql="p.point")}
    JOIN layers_branchmunicipality AS b ON b.id = branch_join.branch_id
    """,
    {"lon": "float8", "lat": "float8"},
)
