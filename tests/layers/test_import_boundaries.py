"""import_boundaries: formats, reprojection, repair, rejection, upsert and the re-join."""

import zipfile

import geopandas as gpd
import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from shapely.geometry import LineString, Polygon, box

from geo_ops.reports.models import EventKind, ReportEvent
from geo_ops.reports.services import report_create
from layers.models import BranchMunicipality, District
from layers.services import boundaries_import

pytestmark = pytest.mark.django_db

# Test areas far from the real Eastern Province layer: two squares sharing the meridian 10.0 E.
WEST = box(9.99, 10.0, 10.0, 10.01)
EAST = box(10.0, 10.0, 10.01, 10.01)
BOW_TIE = Polygon([(20.0, 10.0), (20.01, 10.01), (20.01, 10.0), (20.0, 10.01), (20.0, 10.0)])


def frame(rows: list[dict], crs: str | int | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def import_file(path, **options) -> str:
    """Run the command as an administrator would and return what it printed."""
    from io import StringIO

    out = StringIO()
    call_command(
        "import_boundaries",
        str(path),
        "--code-field",
        "code",
        "--name-field",
        "name",
        stdout=out,
        **options,
    )
    return out.getvalue()


def two_squares(west=WEST, east=EAST) -> gpd.GeoDataFrame:
    return frame(
        [
            {"code": "t_west", "name": "West", "name_ar": "الغرب", "pop": "1200", "geometry": west},
            {"code": "t_east", "name": "East", "name_ar": "الشرق", "pop": None, "geometry": east},
        ]
    )


def test_geojson_dry_run_saves_nothing_and_commit_saves(tmp_path):
    path = tmp_path / "squares.geojson"
    two_squares().to_file(path, driver="GeoJSON")
    before = BranchMunicipality.objects.count()

    printed = import_file(path)
    assert "DRY RUN" in printed and "created 2: t_east, t_west" in printed
    assert BranchMunicipality.objects.count() == before

    printed = import_file(path, name_ar_field="name_ar", population_field="pop", commit=True)
    assert printed.startswith("committed")
    west = BranchMunicipality.objects.get(code="t_west")
    assert (west.name_en, west.name_ar, west.population) == ("West", "الغرب", 1200)
    assert west.geom.geom_type == "MultiPolygon"
    assert west.pieces.count() >= 1

    again = import_file(path, name_ar_field="name_ar", population_field="pop", commit=True)
    assert "created 0" in again and "updated 0" in again and "unchanged 2" in again


def test_geopackage_in_a_metric_crs_is_reprojected(tmp_path):
    path = tmp_path / "squares.gpkg"
    two_squares().to_crs(32639).to_file(path, driver="GPKG")
    boundaries_import(path=path, code_field="code", name_field="name", commit=True)
    west = BranchMunicipality.objects.get(code="t_west")
    assert west.geom.srid == 4326
    assert west.geom.extent == pytest.approx(WEST.bounds, abs=1e-7)


def test_zipped_shapefile_without_prj_uses_srid_option(tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    two_squares().to_crs(32639).to_file(folder / "squares.shp")
    (folder / "squares.prj").unlink()
    archive = tmp_path / "squares.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in folder.iterdir():
            zipped.write(part, part.name)

    with pytest.raises(CommandError, match="no coordinate reference system"):
        import_file(archive, commit=True)
    import_file(archive, srid=32639, commit=True)
    east = BranchMunicipality.objects.get(code="t_east")
    assert east.geom.extent == pytest.approx(EAST.bounds, abs=1e-7)


def test_invalid_polygon_is_repaired_and_bad_features_are_reported(tmp_path):
    path = tmp_path / "mixed.geojson"
    frame(
        [
            {"code": "t_bowtie", "name": "Bow tie", "geometry": BOW_TIE},
            {"code": "t_line", "name": "Line", "geometry": LineString([(0, 0), (1, 1)])},
            {"code": "", "name": "No code", "geometry": WEST},
            {"code": "t_west", "name": "West", "geometry": WEST},
            {"code": "t_west", "name": "West again", "geometry": EAST},
        ]
    ).to_file(path, driver="GeoJSON")

    summary = boundaries_import(path=path, code_field="code", name_field="name", commit=True)
    assert summary.repaired == ["t_bowtie"]
    assert summary.created == ["t_bowtie", "t_west"]
    reasons = dict(summary.rejected)
    assert reasons["t_line"] == "no polygon geometry"
    assert reasons["t_west"] == "duplicate code in the file"
    assert any(reason == "empty code" for reason in reasons.values())
    assert summary.read == 5 == len(summary.created) + len(summary.rejected)
    bow_tie = BranchMunicipality.objects.get(code="t_bowtie")
    assert bow_tie.geom.valid and len(bow_tie.geom) == 2  # the two triangles of the bow tie


def test_missing_field_and_unreadable_file_are_clear_errors(tmp_path):
    path = tmp_path / "squares.geojson"
    two_squares().to_file(path, driver="GeoJSON")
    with pytest.raises(CommandError, match="field 'nope' not in"):
        call_command("import_boundaries", str(path), "--code-field", "nope", "--name-field", "name")
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("this is not GeoJSON")
    with pytest.raises(CommandError, match="cannot read"):
        import_file(garbage)


def test_moved_boundary_rejoins_reports_set_based(tmp_path):
    path = tmp_path / "squares.geojson"
    two_squares().to_file(path, driver="GeoJSON")
    boundaries_import(path=path, code_field="code", name_field="name", commit=True)
    report, _ = report_create(
        category_code="pothole",
        location=Point(9.998, 10.005, srid=4326),
        channel="web",
        actor_label="test",
    )
    assert report.branch.code == "t_west"

    # The east square grows westwards over the report; the west square shrinks.
    moved = two_squares(west=box(9.99, 10.0, 9.995, 10.01), east=box(9.995, 10.0, 10.01, 10.01))
    moved.to_file(path, driver="GeoJSON")
    dry = boundaries_import(path=path, code_field="code", name_field="name")
    assert dry.reports_rejoined == 1 and dry.updated == ["t_east", "t_west"]
    report.refresh_from_db()
    assert report.branch.code == "t_west"  # the dry run changed nothing

    summary = boundaries_import(path=path, code_field="code", name_field="name", commit=True)
    assert summary.reports_rejoined == 1
    report.refresh_from_db()
    assert report.branch.code == "t_east"
    event = ReportEvent.objects.get(report=report, kind=EventKind.REJOINED)
    assert event.data["layer"] == "branch" and not event.public


def test_district_layer_joins_reports_too(tmp_path):
    path = tmp_path / "districts.geojson"
    frame(
        [{"code": "t_district", "name": "Corniche", "geometry": box(50.09, 26.43, 50.12, 26.45)}]
    ).to_file(path, driver="GeoJSON")
    report, _ = report_create(
        category_code="litter",
        location=Point(50.103, 26.442, srid=4326),
        channel="app",
        actor_label="test",
    )
    assert report.district is None
    summary = boundaries_import(
        path=path, code_field="code", name_field="name", layer="district", commit=True
    )
    assert summary.reports_rejoined == 1
    report.refresh_from_db()
    assert report.district == District.objects.get(code="t_district")
