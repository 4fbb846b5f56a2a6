"""Step 3 of the bulk import: the exact spatial join of the rows the interior grid could not
place (near a boundary or a coast, or outside every boundary)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layers.selectors import boundary_join_sql

from .checks import usable_sql

if TYPE_CHECKING:
    from .run import ImportRun


def locate(run: ImportRun) -> None:
    """The exact join for the rows to insert that the interior grid could not place.

    `check` places most points by the key of their grid cell (layers.selectors.GRID_LEVELS),
    a hash join without any geometry test. The others, near a boundary or a coast or
    outside every boundary (4 % of the benchmark's million), are placed here: each
    subdivided piece probes a GiST index over those points, and PostGIS caches the prepared
    piece across its consecutive tests. Not a LATERAL probe of the piece index per point:
    PostgreSQL cannot run that in parallel and each probe costs 10-20 us. The predicate is
    the same as the live intake's (ST_Intersects with a piece); a point that touches more
    than one boundary (on a shared edge) is resolved by boundary_join_sql itself, so its
    tie-break stays the single definition. The rows already stored and the later duplicates
    within the file are not placed: they are not inserted.
    """
    for layer, piece_table in run.layers:
        points, found = run.tables[f"{layer}_points"], run.tables[f"{layer}_of"]
        run.execute(
            f"""CREATE UNLOGGED TABLE {points} AS
            SELECT row_no, lon, lat FROM {run.checked} AS c
            WHERE {layer}_id IS NULL AND NOT present AND first_row IS NULL
              AND {usable_sql()}"""
        )
        run.execute(f"CREATE INDEX ON {points} USING gist (({point_sql('')}))")
        _locate(run, layer, piece_table, points, found)
        run.execute(
            f"""UPDATE {run.checked} AS c SET {layer}_id = f.{layer}_id
            FROM {found} AS f WHERE c.row_no = f.row_no"""
        )
    run.step("spatial join")


def point_sql(alias: str = "c") -> str:
    """The WGS84 point of a row with lon and lat columns (also the point index expression)."""
    p = f"{alias}." if alias else ""
    return f"ST_SetSRID(ST_MakePoint({p}lon, {p}lat), 4326)"


def _locate(run: ImportRun, layer: str, piece_table: str, points: str, target: str) -> None:
    """target: row -> boundary id of the points that are in a boundary of the layer."""
    column = f"{layer}_id"
    # The pieces probe the points through a LATERAL subquery fenced by OFFSET 0, so that the
    # planner cannot flatten it and turn the join around (it would then probe the pieces
    # once per point when it underestimates the points).
    run.execute(
        f"""CREATE UNLOGGED TABLE {target} AS
        SELECT p.row_no, min(piece.{column}) AS {column},
               min(piece.{column}) <> max(piece.{column}) AS ambiguous
        FROM {piece_table} AS piece
        CROSS JOIN LATERAL (
            SELECT pt.row_no FROM {points} AS pt
            WHERE ST_Intersects(piece.geom, {point_sql("pt")})
            OFFSET 0
        ) AS p
        GROUP BY p.row_no"""
    )
    run.execute(
        f"""UPDATE {target} AS t SET {column} = {layer}_join.{column}
        FROM {points} AS pt {boundary_join_sql(point_sql=point_sql("pt"))}
        WHERE t.ambiguous AND pt.row_no = t.row_no"""
    )
    run.execute(f"ANALYZE {target}")
