"""Reads of the boundary layers: point-to-boundary lookups, single and set-based.

Every exact lookup goes through the subdivided piece tables. A point on an edge shared by two
areas touches both; the lower id wins, in the ORM selectors and in the set-based SQL alike, so a
report joins to the same branch whichever path stored it. The bulk import places most points
without any geometry test, by the key of their interior grid cell (`grid_join_sql`); a cell is
stored only when it lies in the interior of exactly one boundary, so that shortcut and the exact
join always agree.
"""

from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import QuerySet

from geo_ops.db.prepared import PreparedStatement

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
        BOUNDARIES_STATEMENT.execute(cursor, {"lon": point.x, "lat": point.y})
        row = cursor.fetchone()
    if row is None:
        return None, None
    # The row made a model directly (geom deferred): Manager.raw() re-derived its column
    # mapping on every call, a millisecond of intake's Python time on this machine.
    *values, district_id = row
    return BranchMunicipality.from_db(connection.alias, _BOUNDARY_FIELDS, values), district_id


def branch_list() -> QuerySet[BranchMunicipality]:
    """All branch municipalities, by code."""
    return BranchMunicipality.objects.order_by("code")


# The interior-cell grid (BranchMunicipalityCell, DistrictCell): cells per degree at each level,
# coarse first. Powers of two, so that a cell's edges (i / n) and a point's cell (floor(lon * n))
# are exact in binary floating point: a point always lies in the closed square whose key it gets.
# 64 a degree is about 1.7 km at 26 N, 512 about 200 m. On the ten real branches and the bulk
# benchmark's points the coarse level places 75 % of them, the fine level 20 %; the remaining
# 4 % (near a coast or a boundary, or outside) take the exact join through the pieces.
GRID_LEVELS = (64, 512)
# layer -> (cell table, column naming the boundary)
CELL_TABLES = {
    "branch": ("layers_branchmunicipalitycell", "branch_id"),
    "district": ("layers_districtcell", "district_id"),
}


def grid_key_sql(*, i_sql: str, j_sql: str, level: int) -> str:
    """SQL for the key of grid cell (i, j) of a level: i * 2^20 + j (unique while |j| < 2^19,
    and latitude * 512 stays below 46,081), with the level as its last digit."""
    return f"(({i_sql})::bigint * 1048576 + ({j_sql})::bigint) * {len(GRID_LEVELS)} + {level}"


def grid_cell_sql(*, lon_sql: str, lat_sql: str, level: int) -> str:
    """SQL for the key of the cell at `level` holding the point; NULL unless -180 <= lon <= 180
    and -90 <= lat <= 90 (so that no coordinate can overflow the key, or name a wrong cell).

    `lon_sql` and `lat_sql` are evaluated three times: pass columns, not parsing expressions.
    (A float8 key without the range test would need no bigint cast, but hashing float8 keys made
    the join twice as slow.)
    """
    n = GRID_LEVELS[level]
    i, j = f"floor({lon_sql} * {n})", f"floor({lat_sql} * {n})"
    key = grid_key_sql(i_sql=i, j_sql=j, level=level)
    return (
        f"CASE WHEN {lon_sql} BETWEEN -180 AND 180 AND {lat_sql} BETWEEN -90 AND 90 THEN {key} END"
    )


def grid_join_sql(*, layer: str, lon_sql: str, lat_sql: str, alias: str) -> tuple[str, str]:
    """(LEFT JOINs of the layer's interior cells at every level, SQL of the boundary id they give).

    The id is NULL where no stored cell holds the point: near a boundary, outside every boundary,
    or without usable coordinates; the exact join decides those. `lon_sql`, `lat_sql`: trusted
    SQL float8 expressions, cheap ones (columns): see grid_cell_sql.
    """
    table, column = CELL_TABLES[layer]
    levels = range(len(GRID_LEVELS))
    joins = []
    for level in levels:
        key = grid_cell_sql(lon_sql=lon_sql, lat_sql=lat_sql, level=level)
        if level:
            # A finer level is probed only for the points the coarser ones did not place (a
            # NULL key matches nothing): the coarse level places three points in four, and
            # each probe of a 200,000-cell hash table is a cache miss or two.
            placed = " OR ".join(f"{alias}{coarser}.cell IS NOT NULL" for coarser in range(level))
            key = f"CASE WHEN NOT ({placed}) THEN {key} END"
        joins.append(f"LEFT JOIN {table} AS {alias}{level} ON {alias}{level}.cell = {key}")
    owner = f"coalesce({', '.join(f'{alias}{level}.{column}' for level in levels)})"
    return " ".join(joins), owner


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


# Intake runs this on every report: a prepared statement, planned once per connection. The
# branch's fields but its polygon (see boundaries_for_point), then the district id.
_BOUNDARY_FIELDS = ["id", "code", "name_en", "name_ar", "population", "updated_at"]
BOUNDARIES_STATEMENT = PreparedStatement(
    "layers_boundaries_for_point",
    f"""
    SELECT {", ".join(f"b.{name}" for name in _BOUNDARY_FIELDS)},
           district_join.district_id
    FROM (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS point) AS p
    {boundary_join_sql(point_sql="p.point")}
    JOIN layers_branchmunicipality AS b ON b.id = branch_join.branch_id
    """,
    {"lon": "float8", "lat": "float8"},
)
