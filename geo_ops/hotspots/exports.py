"""Exports of the hotspot layers and KPI tables as GeoJSON, CSV and GeoPackage (geopandas)."""

import csv
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.http import HttpResponse

FORMATS = ("json", "geojson", "csv", "gpkg")
CONTENT_TYPES = {
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "gpkg": "application/geopackage+sqlite3",
}


@dataclass
class Table:
    """Rows of one layer, each with an optional GeoJSON geometry (WGS84), and its file name."""

    name: str
    rows: list[dict]
    geometries: list[dict | None] | None = None

    def feature_collection(self, **extra) -> dict:
        geometries = self.geometries or [None] * len(self.rows)
        return {
            "type": "FeatureCollection",
            **extra,
            "features": [
                {"type": "Feature", "geometry": geometry, "properties": row}
                for row, geometry in zip(self.rows, geometries, strict=True)
            ],
        }


def _flat(value):
    """A cell value for CSV and GeoPackage: lists and dicts as JSON text."""
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False)
    return value


def to_csv(table: Table) -> bytes:
    columns = list(table.rows[0]) if table.rows else []
    with_geometry = table.geometries is not None
    if with_geometry:
        columns.append("geometry_wkt")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    if with_geometry:
        from shapely.geometry import shape

        wkts = [shape(g).wkt if g else "" for g in table.geometries]
    for index, row in enumerate(table.rows):
        values = [_flat(v) for v in row.values()]
        if with_geometry:
            values.append(wkts[index])
        writer.writerow(values)
    # A byte-order mark so that spreadsheet programs read the Arabic names as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_geopackage(table: Table) -> bytes:
    import geopandas
    from shapely.geometry import shape

    geometries = [shape(g) if g else None for g in (table.geometries or [None] * len(table.rows))]
    frame = geopandas.GeoDataFrame(
        [{key: _flat(value) for key, value in row.items()} for row in table.rows],
        geometry=geometries,
        crs="EPSG:4326",
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{table.name}.gpkg"
        frame.to_file(path, driver="GPKG", layer=table.name, engine="pyogrio")
        return path.read_bytes()


def export_response(*, table: Table, fmt: str, stem: str, extra: dict | None = None):
    """A download of `table` in `fmt` (geojson, csv or gpkg), named `stem`.<extension>."""
    if fmt == "geojson":
        body = json.dumps(table.feature_collection(**(extra or {})), ensure_ascii=False).encode()
    elif fmt == "csv":
        body = to_csv(table)
    elif fmt == "gpkg":
        body = to_geopackage(table)
    else:  # pragma: no cover - the view checks the format first
        raise ValueError(fmt)
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    return response
