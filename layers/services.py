"""Writes to the boundary layers: the boundary import and the subdivided side tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import shapely
from django.conf import settings
from django.db import connection, transaction
from psycopg2.extras import execute_values
from shapely.geometry import MultiPolygon, Polygon

from .models import BranchMunicipality, District
from .selectors import CELL_TABLES, GRID_LEVELS, grid_key_sql
from .signals import boundaries_changed

if TYPE_CHECKING:
    import geopandas as gpd

LAYER_MODELS = {"branch": BranchMunicipality, "district": District}
# The piece tables and the column naming their parent, per layer.
PIECE_TABLES = {
    "branch": ("layers_branchmunicipalitypiece", "branch_id"),
    "district": ("layers_districtpiece", "district_id"),
}


class BoundaryImportError(Exception):
    """The file cannot be imported at all (unreadable, missing field, unknown CRS)."""


@dataclass
class BoundaryImportSummary:
    """What an import did, or would do on a dry run."""

    layer: str
    read: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (feature, reason)
    pieces: int = 0
    reports_rejoined: int = 0
    committed: bool = False

    def lines(self) -> list[str]:
        """A human-readable summary, one fact a line."""
        mode = "committed" if self.committed else "DRY RUN (nothing saved; use --commit)"
        out = [
            f"{mode}: layer {self.layer}, {self.read} features read",
            f"  created {len(self.created)}: {', '.join(self.created) or '-'}",
            f"  updated {len(self.updated)}: {', '.join(self.updated) or '-'}",
            f"  unchanged {len(self.unchanged)}",
            f"  repaired invalid geometry {len(self.repaired)}: {', '.join(self.repaired) or '-'}",
            f"  rejected {len(self.rejected)}",
        ]
        out += [f"    {feature}: {reason}" for feature, reason in self.rejected]
        out += [
            f"  subdivided pieces written {self.pieces}",
            f"  reports re-joined to a different boundary {self.reports_rejoined}",
        ]
        return out


def _polygonal(geom) -> MultiPolygon | None:
    """The polygonal part of a geometry as a MultiPolygon, or None when it has none."""
    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    # make_valid can return a GeometryCollection (polygons plus stray lines or points).
    polygons = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon | MultiPolygon)]
    parts = [p for g in polygons for p in (g.geoms if isinstance(g, MultiPolygon) else [g])]
    return MultiPolygon(parts) if parts else None


def _read(path: Path, srid: int | None) -> gpd.GeoDataFrame:
    # Imported here: geopandas pulls in pandas, which only the boundary import needs.
    import geopandas as gpd

    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types; the message is what matters
        raise BoundaryImportError(f"cannot read {path}: {exc}") from exc
    if srid is not None:
        frame = frame.set_crs(srid, allow_override=True)
    if frame.crs is None:
        raise BoundaryImportError(f"{path} has no coordinate reference system; pass --srid")
    return frame.to_crs(4326)


def boundaries_import(
    *,
    path: Path,
    code_field: str,
    name_field: str,
    name_ar_field: str | None = None,
    population_field: str | None = None,
    srid: int | None = None,
    layer: str = "branch",
    commit: bool = False,
) -> BoundaryImportSummary:
    """Upsert boundaries by code from any file GDAL reads; a dry run unless commit is True.

    The dry run performs every step inside a transaction and rolls it back, so its summary
    (including how many reports would move to another boundary) is exactly what --commit does.
    """
    if layer not in LAYER_MODELS:
        raise BoundaryImportError(f"unknown layer {layer!r}; choose branch or district")
    frame = _read(Path(path), srid)
    for column in filter(None, [code_field, name_field, name_ar_field, population_field]):
        if column not in frame.columns:
            raise BoundaryImportError(
                f"field {column!r} not in {path}; fields: {', '.join(map(str, frame.columns))}"
            )

    summary = BoundaryImportSummary(layer=layer, read=len(frame))
    rows: dict[str, tuple] = {}
    for index, feature in frame.iterrows():  # a file holds tens of boundaries, not millions
        code = str(feature[code_field] or "").strip()
        label = code or f"feature #{index}"
        if not code:
            summary.rejected.append((label, f"empty {code_field}"))
            continue
        if code in rows:
            summary.rejected.append((label, "duplicate code in the file"))
            continue
        geom = feature.geometry
        if geom is not None and not geom.is_valid:
            geom = shapely.make_valid(geom)
            summary.repaired.append(code)
        multipolygon = _polygonal(geom)
        if multipolygon is None:
            summary.rejected.append((label, "no polygon geometry"))
            continue
        population = feature[population_field] if population_field else None
        try:
            population = int(float(population)) if population not in (None, "") else None
        except (TypeError, ValueError):
            population = None
        name_ar = str(feature[name_ar_field] or "") if name_ar_field else ""
        rows[code] = (code, str(feature[name_field] or code), name_ar, population, multipolygon.wkb)

    model = LAYER_MODELS[layer]
    table = model._meta.db_table
    with transaction.atomic():
        summary.pieces, changed_ids = _upsert(table=table, layer=layer, rows=list(rows.values()))
        existing = {code for code, _ in changed_ids}
        summary.created = sorted(code for code, created in changed_ids if created)
        summary.updated = sorted(code for code, created in changed_ids if not created)
        summary.unchanged = sorted(set(rows) - existing)
        ids = list(model.objects.filter(code__in=existing).values_list("id", flat=True))
        if ids:
            responses = boundaries_changed.send(sender=model, layer=layer, ids=ids)
            summary.reports_rejoined = sum(int(r or 0) for _, r in responses)
        summary.committed = commit
        if not commit:
            transaction.set_rollback(True)
    return summary


def _upsert(*, table: str, layer: str, rows: list[tuple]) -> tuple[int, list[tuple[str, bool]]]:
    """Insert or update boundaries in one statement and re-cut the pieces of those that changed.

    Returns the number of pieces written and (code, created) for each inserted or changed row.
    """
    if not rows:
        return 0, []
    with connection.cursor() as cursor:
        # ON CONFLICT ... WHERE skips rows whose content is identical, so re-running an import
        # reports them as unchanged and does not re-join reports for nothing. xmax = 0 marks a
        # freshly inserted row.
        changed = execute_values(
            cursor,
            f"""
            INSERT INTO {table} AS b (code, name_en, name_ar, population, geom, updated_at)
            VALUES %s
            ON CONFLICT (code) DO UPDATE SET
                name_en = EXCLUDED.name_en, name_ar = EXCLUDED.name_ar,
                population = EXCLUDED.population, geom = EXCLUDED.geom, updated_at = now()
            WHERE (b.name_en, b.name_ar, b.population) IS DISTINCT FROM
                  (EXCLUDED.name_en, EXCLUDED.name_ar, EXCLUDED.population)
               OR NOT ST_Equals(b.geom, EXCLUDED.geom)
            RETURNING b.id, b.code, (xmax = 0) AS created
            """,
            rows,
            template="(%s, %s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, 4326)), now())",
            fetch=True,
        )
    pieces = boundary_pieces_refresh(layer=layer, ids=[row[0] for row in changed])
    return pieces, [(code, created) for _, code, created in changed]


def boundary_pieces_refresh(*, layer: str, ids: list[int]) -> int:
    """Re-cut the subdivided side-table pieces of the given boundaries; returns the piece count.

    Raw SQL: ST_Subdivide is a set-returning function, which the ORM cannot insert from.
    """
    if not ids:
        return 0
    piece_table, parent_column = PIECE_TABLES[layer]
    parent_table = LAYER_MODELS[layer]._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {piece_table} WHERE {parent_column} = ANY(%s)", [ids])
        cursor.execute(
            f"""
            INSERT INTO {piece_table} ({parent_column}, geom)
            SELECT id, ST_Subdivide(geom, %s) FROM {parent_table} WHERE id = ANY(%s)
            """,
            [settings.GEO_OPS_SUBDIVIDE_MAX_VERTICES, ids],
        )
        pieces = cursor.rowcount
    boundary_cells_refresh(layer=layer)
    return pieces


def boundary_cells_refresh(*, layer: str) -> int:
    """Rebuild the layer's interior grid cells (see BranchMunicipalityCell); returns how many.

    The whole layer at once, since one changed boundary changes which cells its neighbours own:
    1.5-3.5 s for the ten real branch municipalities (measured on this 2-core host). A cell is
    stored when it lies in the interior of one boundary (ST_ContainsProperly: not even its edge
    touches the boundary line) and no other boundary intersects it. Coarse cells first; the
    coarse cells that a boundary crosses are split into fine ones. Raw SQL: ST_SquareGrid is a
    set-returning function.
    The tests run over rows ordered by boundary, so that consecutive tests use the same polygon
    and PostGIS reuses its prepared (indexed) form instead of rebuilding it for each cell: tested
    in the order of the grouping, the polygons interleave and the fine level took 11 s, not 0.6.
    """
    cell_table, column = CELL_TABLES[layer]
    parent_table = LAYER_MODELS[layer]._meta.db_table
    coarse, fine = GRID_LEVELS
    split = fine // coarse
    coarse_key = grid_key_sql(i_sql="i", j_sql="j", level=0)
    fine_key = grid_key_sql(i_sql="f.i", j_sql="f.j", level=1)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {cell_table}")
        cursor.execute(
            f"""
            CREATE TEMPORARY TABLE layers_grid_coarse ON COMMIT DROP AS
            SELECT b.id, g.i, g.j, g.geom, ST_ContainsProperly(b.geom, g.geom) AS inside
            FROM {parent_table} AS b CROSS JOIN LATERAL ST_SquareGrid(%(size)s, b.geom) AS g
            WHERE ST_Intersects(b.geom, g.geom);
            INSERT INTO {cell_table} (cell, {column})
            SELECT {coarse_key}, min(id) FROM layers_grid_coarse
            GROUP BY i, j HAVING count(*) = 1 AND bool_and(inside);
            CREATE TEMPORARY TABLE layers_grid_fine ON COMMIT DROP AS
            SELECT c.id, f.i, f.j, f.geom
            FROM (SELECT i, j FROM layers_grid_coarse
                  GROUP BY i, j HAVING count(*) > 1 OR NOT bool_and(inside)) AS crossed
            JOIN layers_grid_coarse AS c USING (i, j)
            CROSS JOIN LATERAL ST_SquareGrid(%(fine_size)s, c.geom) AS f
            -- the squares of the coarse cell itself, not the neighbours touching its edges
            WHERE f.i BETWEEN c.i * {split} AND c.i * {split} + {split - 1}
              AND f.j BETWEEN c.j * {split} AND c.j * {split} + {split - 1}
            ORDER BY c.id;
            INSERT INTO {cell_table} (cell, {column})
            SELECT {fine_key}, min(f.id)
            FROM (
                -- OFFSET 0: the tests run here, in boundary order, not in the aggregate's
                SELECT f.id, f.i, f.j, ST_ContainsProperly(b.geom, f.geom) AS inside
                FROM layers_grid_fine AS f JOIN {parent_table} AS b ON b.id = f.id
                WHERE ST_Intersects(b.geom, f.geom)
                OFFSET 0
            ) AS f
            GROUP BY f.i, f.j HAVING count(*) = 1 AND bool_and(f.inside);
            DROP TABLE layers_grid_coarse, layers_grid_fine;
            ANALYZE {cell_table}
            """,
            {"size": 1 / coarse, "fine_size": 1 / fine},
        )
        cursor.execute(f"SELECT count(*) FROM {cell_table}")
        return cursor.fetchone()[0]
