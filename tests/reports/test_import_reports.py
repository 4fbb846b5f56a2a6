"""Bulk import of reports (geo_ops.reports.bulk, `manage.py import_reports`): CSV and GeoJSON,
dry run and commit, the branch join, every reject reason, idempotency, the index-rebuild path."""

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from geo_ops.reports.bulk import ReportImportError, reports_import
from geo_ops.reports.models import Category, ImportBatch, Report
from layers.models import BranchMunicipality
from layers.selectors import branch_for_point
from tests.conftest import DAMMAM_CORNICHE, KHOBAR_CENTRE, OPEN_GULF

pytestmark = pytest.mark.django_db

COLUMNS = [
    "external_id",
    "lat",
    "lon",
    "category",
    "channel",
    "created_at",
    "status",
    "closed_at",
    "description",
]
RIYADH = timedelta(hours=3)


def row(external_id, point=DAMMAM_CORNICHE, **fields):
    """A valid CSV row (dict) at `point` (lon, lat), overridable field by field."""
    values = {
        "external_id": external_id,
        "lat": str(point[1]),
        "lon": str(point[0]),
        "category": "pothole",
        "channel": "hotline_940",
        "created_at": "2025-03-01 08:15:00",
        "status": "",
        "closed_at": "",
        "description": "Deep pothole in the right lane",
    }
    values.update(fields)
    return values


def write_csv(path: Path, rows: list[dict], columns=COLUMNS, delimiter=",", bom=False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rejects(path: Path) -> dict[str, dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {r["external_id"]: r for r in csv.DictReader(handle)}


def reason_codes(reason: str) -> list[str]:
    return [part.split(":", 1)[0].strip() for part in reason.split(";")]


def assert_adds_up(summary):
    assert summary.read == summary.inserted + summary.already_present + summary.rejected


# --- CSV, dry run and commit --------------------------------------------------------------------


def test_dry_run_reports_everything_and_stores_nothing(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv",
        [row("A-1"), row("A-2", KHOBAR_CENTRE), row("A-3", OPEN_GULF), row("A-4", category="x")],
    )
    rejects = tmp_path / "rejects.csv"

    summary = reports_import(path=path, commit=False, rejects_path=rejects, actor_label="test")

    assert not summary.committed
    assert (summary.read, summary.inserted, summary.already_present) == (4, 2, 0)
    assert summary.rejected_by_reason == {"outside_service_area": 1, "category_unknown": 1}
    assert_adds_up(summary)
    assert Report.objects.count() == 0
    assert ImportBatch.objects.count() == 0
    assert summary.batch_id is None
    assert set(read_rejects(rejects)) == {"A-3", "A-4"}  # the rejects file is written anyway
    assert "DRY RUN" in summary.lines()[0] and "would insert 2" in summary.lines()[1]


def test_commit_stores_rows_joined_to_their_branch(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv",
        [
            row("D-1", DAMMAM_CORNICHE),
            row("K-1", KHOBAR_CENTRE, channel="app", created_at="2025-03-01T08:15:00+03:00"),
            row(
                "K-2",
                KHOBAR_CENTRE,
                created_at="2025-03-01T05:15:00Z",
                status="closed",
                closed_at="2025-03-02 10:00",
            ),
        ],
    )

    summary = reports_import(path=path, commit=True, actor_label="test-actor")

    assert summary.committed and summary.inserted == 3 and summary.rejected == 0
    by_id = {r.external_id: r for r in Report.objects.select_related("branch")}
    assert by_id["D-1"].branch.code == "dammam"
    assert by_id["K-1"].branch.code == "khobar"
    assert by_id["K-2"].branch.code == "khobar"
    # The same branch as the single-report intake finds for the point.
    for report in by_id.values():
        assert report.branch == branch_for_point(point=report.location)
    # Local time without an offset (Asia/Riyadh); an explicit offset or Z as given.
    expected = datetime(2025, 3, 1, 8, 15, tzinfo=UTC) - RIYADH
    assert {r.created_at for r in by_id.values()} == {expected}
    assert by_id["D-1"].location.x == pytest.approx(DAMMAM_CORNICHE[0])
    assert by_id["D-1"].location.y == pytest.approx(DAMMAM_CORNICHE[1])
    assert by_id["K-1"].channel == "app"
    assert by_id["D-1"].status == "new"  # empty status
    assert by_id["D-1"].closed_at is None
    assert by_id["K-2"].status == "closed"
    assert by_id["K-2"].closed_at == datetime(2025, 3, 2, 10, 0, tzinfo=UTC) - RIYADH
    assert by_id["D-1"].description == "Deep pothole in the right lane"


def test_subcategory_maps_to_parent_with_its_priority_and_sla(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv",
        [
            row("S-1", category="missing_manhole_cover"),
            row("S-2", category="roads_networks"),
            row("S-3", category="  exposed_wiring "),
        ],
    )

    reports_import(path=path, commit=True, actor_label="test")

    manhole = Category.objects.get(code="missing_manhole_cover")
    roads = Category.objects.get(code="roads_networks")
    wiring = Category.objects.get(code="exposed_wiring")
    by_id = {r.external_id: r for r in Report.objects.all()}
    assert (by_id["S-1"].category, by_id["S-1"].subcategory) == (roads, manhole)
    assert by_id["S-1"].priority == manhole.default_priority
    assert by_id["S-1"].due_at == by_id["S-1"].created_at + timedelta(hours=manhole.sla_hours)
    assert (by_id["S-2"].category, by_id["S-2"].subcategory) == (roads, None)
    assert by_id["S-2"].priority == roads.default_priority
    assert by_id["S-2"].due_at == by_id["S-2"].created_at + timedelta(hours=roads.sla_hours)
    assert (by_id["S-3"].category, by_id["S-3"].subcategory) == (wiring.parent, wiring)


def test_tracking_numbers_and_import_batch(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv", [row(f"T-{i}") for i in range(5)] + [row("T-bad", lat="x")]
    )

    summary = reports_import(path=path, commit=True, actor_label="ops@amanah")

    numbers = list(Report.objects.values_list("tracking_number", flat=True))
    assert len(numbers) == 5 == len(set(numbers))
    assert all(n.startswith("EP") and n[2:].isdigit() for n in numbers)
    batch = ImportBatch.objects.get()
    assert batch.pk == summary.batch_id
    assert batch.actor == "ops@amanah" and batch.source == str(path)
    assert (batch.rows_read, batch.rows_inserted, batch.rows_already_present) == (6, 5, 0)
    assert batch.rows_rejected == 1 and batch.finished_at is not None
    assert set(Report.objects.values_list("import_batch", flat=True)) == {batch.pk}


def test_rerun_inserts_nothing_new(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv",
        [row("R-1"), row("R-2", KHOBAR_CENTRE), row("R-3", OPEN_GULF), row("R-1")],
    )
    first = reports_import(path=path, commit=True, actor_label="test")
    numbers = set(Report.objects.values_list("tracking_number", flat=True))

    second = reports_import(path=path, commit=True, actor_label="test")

    assert (first.inserted, first.already_present, first.rejected) == (2, 0, 2)
    assert (second.inserted, second.already_present, second.rejected) == (0, 2, 2)
    assert second.rejected_by_reason == first.rejected_by_reason
    assert_adds_up(second)
    assert set(Report.objects.values_list("tracking_number", flat=True)) == numbers
    assert ImportBatch.objects.get(pk=second.batch_id).rows_already_present == 2


def test_new_rows_in_a_later_file_are_added(tmp_path):
    reports_import(
        path=write_csv(tmp_path / "a.csv", [row("N-1"), row("N-2")]),
        commit=True,
        actor_label="test",
    )
    summary = reports_import(
        path=write_csv(tmp_path / "b.csv", [row("N-2"), row("N-3")]),
        commit=True,
        actor_label="test",
    )
    assert (summary.inserted, summary.already_present) == (1, 1)
    assert sorted(Report.objects.values_list("external_id", flat=True)) == ["N-1", "N-2", "N-3"]


# --- rejects -------------------------------------------------------------------------------

FUTURE = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
REJECTS = {
    # external_id: (row overrides, the reason code expected)
    "X-lat-empty": ({"lat": ""}, "coordinates_missing"),
    "X-lat-text": ({"lat": "26,44"}, "coordinates_not_a_number"),
    "X-lon-nan": ({"lon": "NaN"}, "coordinates_not_finite"),
    "X-lat-range": ({"lat": "95.5"}, "coordinates_out_of_range"),
    "X-lon-huge": ({"lon": "1e999"}, "coordinates_not_a_number"),
    "X-gulf": ({"lat": str(OPEN_GULF[1]), "lon": str(OPEN_GULF[0])}, "outside_service_area"),
    "X-cat-unknown": ({"category": "graffiti"}, "category_unknown"),
    "X-cat-empty": ({"category": ""}, "category_missing"),
    "X-channel": ({"channel": "fax"}, "channel_invalid"),
    "X-channel-empty": ({"channel": ""}, "channel_missing"),
    "X-status": ({"status": "done"}, "status_invalid"),
    "X-created-empty": ({"created_at": ""}, "created_at_missing"),
    "X-created-feb30": ({"created_at": "2024-02-30 10:00:00"}, "created_at_invalid"),
    "X-created-text": ({"created_at": "yesterday"}, "created_at_invalid"),
    "X-created-us": ({"created_at": "03/01/2025 08:15"}, "created_at_invalid"),
    "X-created-hour": ({"created_at": "2025-03-01 24:10:00"}, "created_at_invalid"),
    "X-created-future": ({"created_at": FUTURE}, "created_at_in_future"),
    "X-closed-bad": ({"status": "closed", "closed_at": "2025-13-01"}, "closed_at_invalid"),
    "X-closed-open": ({"status": "assigned", "closed_at": "2025-03-02"}, "closed_at_not_allowed"),
    "X-closed-new": ({"closed_at": "2025-03-02"}, "closed_at_not_allowed"),
    "X-closed-early": (
        {"status": "resolved", "closed_at": "2025-03-01 08:00:00"},
        "closed_at_before_created_at",
    ),
    "X-description": ({"description": "x" * 4001}, "description_too_long"),
}


def test_every_reject_reason_lands_in_the_rejects_file(tmp_path):
    rows = [row("OK-1"), row("OK-2", KHOBAR_CENTRE)]
    rows += [row(external_id, **overrides) for external_id, (overrides, _) in REJECTS.items()]
    rows += [row("", description="no id"), row("X" * 101)]  # missing id, id too long
    rows += [row("OK-1", KHOBAR_CENTRE)]  # the same id again, later in the file
    path = write_csv(tmp_path / "reports.csv", rows)
    rejects_path = tmp_path / "rejects.csv"

    summary = reports_import(path=path, commit=True, rejects_path=rejects_path, actor_label="t")

    rejects = read_rejects(rejects_path)
    assert summary.inserted == 2 and Report.objects.count() == 2
    assert summary.rejected == len(REJECTS) + 3 == sum(1 for _ in rejects_path.open()) - 1
    assert_adds_up(summary)
    for external_id, (overrides, code) in REJECTS.items():
        reject = rejects[external_id]
        assert reason_codes(reject["reason"]) == [code], (external_id, reject["reason"])
        # The original row comes back as it was, with its row number in the file.
        for field, value in overrides.items():
            assert reject[field] == value
        assert int(reject["source_row"]) == 3 + list(REJECTS).index(external_id)
    assert reason_codes(rejects[""]["reason"]) == ["external_id_missing"]
    assert reason_codes(rejects["X" * 101]["reason"]) == ["external_id_too_long"]
    assert "is already on row 1" in rejects["OK-1"]["reason"]
    assert reason_codes(rejects["OK-1"]["reason"]) == ["external_id_duplicate_in_file"]
    # The reasons are precise: they name the value and the rule.
    assert "'graffiti'" in rejects["X-cat-unknown"]["reason"]
    assert "'2024-02-30 10:00:00'" in rejects["X-created-feb30"]["reason"]
    assert "4001 characters, at most 4000" in rejects["X-description"]["reason"]
    assert "outside -90..90" in rejects["X-lat-range"]["reason"]
    expected_counts = {}
    for _, code in REJECTS.values():
        expected_counts[code] = expected_counts.get(code, 0) + 1
    for code in ("external_id_missing", "external_id_too_long", "external_id_duplicate_in_file"):
        expected_counts[code] = 1
    assert summary.rejected_by_reason == expected_counts


def test_a_row_with_several_faults_lists_them_all(tmp_path):
    path = write_csv(
        tmp_path / "reports.csv",
        [row("M-1", lat="abc", category="nope", channel="fax", created_at="soon")],
    )
    rejects_path = tmp_path / "rejects.csv"

    summary = reports_import(path=path, commit=False, rejects_path=rejects_path, actor_label="t")

    reason = read_rejects(rejects_path)["M-1"]["reason"]
    assert reason_codes(reason) == [
        "coordinates_not_a_number",
        "category_unknown",
        "channel_invalid",
        "created_at_invalid",
    ]
    assert summary.rejected_by_reason == {"coordinates_not_a_number": 1}  # by the first reason


def test_timestamp_formats(tmp_path):
    formats = {
        "F-date": ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC) - RIYADH),
        "F-minutes": ("2025-03-01T08:15", datetime(2025, 3, 1, 8, 15, tzinfo=UTC) - RIYADH),
        "F-fraction": (
            "2025-03-01 08:15:00.250",
            datetime(2025, 3, 1, 8, 15, 0, 250000, tzinfo=UTC) - RIYADH,
        ),
        "F-offset": ("2025-03-01T08:15:00-0130", datetime(2025, 3, 1, 9, 45, tzinfo=UTC)),
        "F-hours": ("2025-03-01 08:15:00+03", datetime(2025, 3, 1, 5, 15, tzinfo=UTC)),
        "F-leap": ("2024-02-29 23:59:59Z", datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC)),
        "F-spaces": ("  2025-03-01 08:15  ", datetime(2025, 3, 1, 8, 15, tzinfo=UTC) - RIYADH),
    }
    bad = ["2023-02-29", "2025-04-31", "0000-01-01", "2025-03-01 08:60", "2025-03-01+99:00"]
    rows = [row(k, created_at=text) for k, (text, _) in formats.items()]
    rows += [row(f"B-{i}", created_at=text) for i, text in enumerate(bad)]
    path = write_csv(tmp_path / "reports.csv", rows)

    summary = reports_import(path=path, commit=True, actor_label="t")

    assert summary.rejected_by_reason == {"created_at_invalid": len(bad)}
    created = dict(Report.objects.values_list("external_id", "created_at"))
    assert created == {k: when for k, (_, when) in formats.items()}


# --- formats -----------------------------------------------------------------------------------


def feature(external_id, coordinates, geometry_type="Point", **properties):
    props = row(external_id) | properties
    del props["lat"], props["lon"]
    geometry = None if coordinates is None else {"type": geometry_type, "coordinates": coordinates}
    return {"type": "Feature", "geometry": geometry, "properties": props}


def test_geojson_import(tmp_path):
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature("G-1", list(DAMMAM_CORNICHE), category="overflowing_bins"),
            feature("G-2", [*KHOBAR_CENTRE, 12.5], channel="web"),  # a z value is ignored
            feature("G-3", list(OPEN_GULF)),
            feature("G-4", None),
            feature("G-5", [[50.1, 26.4], [50.2, 26.5]], geometry_type="LineString"),
            feature("G-6", [float("nan"), 26.4]),
            feature("G-7", [50.1, 26.4], description=None, status=None),
        ],
    }
    path = tmp_path / "reports.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")  # NaN as JSON writes it
    rejects_path = tmp_path / "rejects.csv"

    summary = reports_import(path=path, commit=True, rejects_path=rejects_path, actor_label="t")

    assert summary.file_format == "geojson"
    assert (summary.read, summary.inserted) == (7, 3)
    assert_adds_up(summary)
    by_id = {r.external_id: r for r in Report.objects.select_related("branch", "subcategory")}
    assert by_id["G-1"].branch.code == "dammam"
    assert by_id["G-1"].subcategory.code == "overflowing_bins"
    assert by_id["G-2"].branch.code == "khobar" and by_id["G-2"].channel == "web"
    assert (by_id["G-7"].description, by_id["G-7"].status) == ("", "new")
    rejects = read_rejects(rejects_path)
    assert reason_codes(rejects["G-3"]["reason"]) == ["outside_service_area"]
    assert reason_codes(rejects["G-4"]["reason"]) == ["coordinates_missing"]
    assert reason_codes(rejects["G-5"]["reason"]) == ["geometry_not_point"]
    assert "LineString" in rejects["G-5"]["reason"]
    assert reason_codes(rejects["G-6"]["reason"]) == ["coordinates_not_finite"]
    assert rejects["G-3"]["lon"] == str(OPEN_GULF[0])  # the coordinates, as lon/lat columns


def test_format_is_detected_by_content_and_csv_dialects(tmp_path):
    geojson = tmp_path / "export.dat"
    geojson.write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": [feature("C-1", list(DAMMAM_CORNICHE))]}
        )
    )
    semicolons = write_csv(
        tmp_path / "excel.csv",
        [row("C-2"), row("C-3", description="a; b")],
        delimiter=";",
        bom=True,
    )
    reordered = write_csv(
        tmp_path / "other.csv",
        [dict(row("C-4"), note="ignored")],
        columns=["description", "note", *reversed(COLUMNS[:-1])],
    )

    results = [
        reports_import(path=p, commit=True, actor_label="t")
        for p in (geojson, semicolons, reordered)
    ]

    assert [r.file_format for r in results] == ["geojson", "csv", "csv"]
    assert [r.inserted for r in results] == [1, 2, 1]
    assert Report.objects.get(external_id="C-3").description == "a; b"


def test_structural_errors_raise_and_store_nothing(tmp_path):
    missing = write_csv(tmp_path / "missing.csv", [{"external_id": "E-1"}], columns=["external_id"])
    with pytest.raises(ReportImportError, match="missing column"):
        reports_import(path=missing, commit=True, actor_label="t")

    ragged = tmp_path / "ragged.csv"
    ragged.write_text(",".join(COLUMNS) + "\nE-2,26.44,50.10,pothole,app,2025-03-01,,,x\nE-3,1,2\n")
    with pytest.raises(ReportImportError, match="line 3 of the file"):
        reports_import(path=ragged, commit=True, actor_label="t")

    not_json = tmp_path / "broken.geojson"
    not_json.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(ReportImportError, match="not valid JSON"):
        reports_import(path=not_json, commit=True, actor_label="t")

    assert Report.objects.count() == 0 and ImportBatch.objects.count() == 0


def test_failure_after_the_insert_leaves_no_rows(tmp_path):
    path = write_csv(tmp_path / "reports.csv", [row("F-1"), row("F-2", lat="")])
    unwritable = tmp_path / "no-such-dir" / "rejects.csv"  # written after the insert

    with pytest.raises(OSError):
        reports_import(path=path, commit=True, rejects_path=unwritable, actor_label="t")

    assert Report.objects.count() == 0 and ImportBatch.objects.count() == 0
    with connection.cursor() as cursor:  # and no scratch table survives
        cursor.execute(r"SELECT count(*) FROM pg_class WHERE relname LIKE 'reports\_import\_%'")
        assert cursor.fetchone()[0] == 0


# --- the join on shared edges and the index-rebuild path ------------------------------------------


def test_point_on_a_shared_edge_gets_the_same_branch_as_intake(tmp_path, make_branch):
    # Two squares far from the real branches, sharing the edge x = 45.0.
    west = make_branch(
        "west_sq", [(44.9, 20.0), (45.0, 20.0), (45.0, 20.1), (44.9, 20.1), (44.9, 20.0)]
    )
    east = make_branch(
        "east_sq", [(45.0, 20.0), (45.1, 20.0), (45.1, 20.1), (45.0, 20.1), (45.0, 20.0)]
    )
    path = write_csv(
        tmp_path / "edge.csv",
        [
            row("E-edge", (45.0, 20.05)),
            row("E-west", (44.95, 20.05)),
            row("E-east", (45.05, 20.05)),
        ],
    )

    reports_import(path=path, commit=True, actor_label="t")

    by_id = {r.external_id: r.branch for r in Report.objects.select_related("branch")}
    assert by_id["E-west"] == west and by_id["E-east"] == east
    assert (
        by_id["E-edge"]
        == branch_for_point(point=Report.objects.get(external_id="E-edge").location)
        == min(west, east, key=lambda b: b.pk)
    )


def schema_of_reports():
    """The reports table's indexes and constraints, and the other tables' foreign keys to it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'reports_report' "
            "ORDER BY 1"
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE 'reports_report'::regclass IN (conrelid, confrelid) "
            "ORDER BY 1, 2"
        )
        return indexes, cursor.fetchall()


def primary_key_index_oid():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'reports_report_pkey'::regclass::oid")
        return cursor.fetchone()[0]


def test_rebuild_path_restores_every_index_and_constraint(tmp_path, client):
    before, pk_before = schema_of_reports(), primary_key_index_oid()
    path = write_csv(
        tmp_path / "reports.csv",
        [row(f"B-{i}", KHOBAR_CENTRE if i % 2 else DAMMAM_CORNICHE) for i in range(20)],
    )

    summary = reports_import(path=path, commit=True, actor_label="t", rebuild_indexes=True)

    assert summary.rebuilt_indexes and summary.inserted == 20
    assert schema_of_reports() == before
    # Nothing refers to reports yet, so the primary key was rebuilt too (a new index).
    assert primary_key_index_oid() != pk_before
    assert Report.objects.filter(branch__code="khobar").count() == 10
    # The foreign keys are back and checked: a dangling branch is refused, and so is an event
    # of a report that does not exist (the other tables' foreign keys to reports are back).
    for statement in (
        "UPDATE reports_report SET branch_id = -1 WHERE external_id = 'B-1'",
        "INSERT INTO reports_reportevent (report_id, actor_label, kind, from_status, to_status, "
        "note, public, data) VALUES (-1, 't', 'note', '', '', '', true, '{}')",
    ):
        with (
            pytest.raises(Exception, match="foreign key"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(statement)
    # A report taken in afterwards gets an id after the imported ones, its event refers to it.
    response = client.post(
        "/api/v1/reports/",
        {"category": "pothole", "lat": DAMMAM_CORNICHE[1], "lon": DAMMAM_CORNICHE[0]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert Report.objects.get(pk=response.json()["id"]).events.count() >= 1


def test_rebuild_keeps_the_primary_key_when_more_rows_refer_to_reports_than_are_loaded(
    tmp_path, client
):
    """Rebuilding the primary key means checking every row that refers to reports again: not
    worth it when those outnumber the rows loaded."""
    for _ in range(3):  # three reports, each with its events
        response = client.post(
            "/api/v1/reports/",
            {"category": "pothole", "lat": KHOBAR_CENTRE[1], "lon": KHOBAR_CENTRE[0]},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
    with connection.cursor() as cursor:
        # (the test's transaction: their deferred foreign-key checks run now, as at a commit)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ANALYZE reports_reportevent")
    before, pk_before = schema_of_reports(), primary_key_index_oid()
    path = write_csv(tmp_path / "reports.csv", [row("K-1"), row("K-2")])

    summary = reports_import(path=path, commit=True, actor_label="t", rebuild_indexes=True)

    assert summary.rebuilt_indexes and summary.inserted == 2
    assert schema_of_reports() == before and primary_key_index_oid() == pk_before


def test_big_load_numbers_its_rows_from_one_block_of_the_sequences(tmp_path, client):
    path = write_csv(
        tmp_path / "reports.csv",
        [row(f"N-{i}") for i in range(6)] + [row("N-bad", lat="x")] + [row("N-6")],
    )

    summary = reports_import(path=path, commit=True, actor_label="t", rebuild_indexes=True)

    assert summary.rebuilt_indexes and summary.inserted == 7
    stored = list(Report.objects.order_by("id").values_list("external_id", "id", "tracking_number"))
    # File order, one number per file row: the rejected row 7 leaves a gap in both.
    assert [ext for ext, _, _ in stored] == [f"N-{i}" for i in range(7)]
    ids = [pk for _, pk, _ in stored]
    numbers = [int(number[2:]) for _, _, number in stored]
    for values in (ids, numbers):
        assert [v - values[0] for v in values] == [0, 1, 2, 3, 4, 5, 7]
    assert all(len(number) == 10 and number.startswith("EP") for _, _, number in stored)
    # A report taken in afterwards gets the numbers after the block, not one inside it.
    response = client.post(
        "/api/v1/reports/",
        {"category": "pothole", "lat": DAMMAM_CORNICHE[1], "lon": DAMMAM_CORNICHE[0]},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    after = Report.objects.get(pk=response.json()["id"])
    assert after.pk == ids[0] + 8 and int(after.tracking_number[2:]) == numbers[0] + 8


def test_a_row_stored_concurrently_counts_as_already_present(tmp_path, monkeypatch):
    """A writer storing one of the external_ids between the validation and the insert (the
    small-load path takes no table lock): the insert falls back to ON CONFLICT DO NOTHING."""
    from django.contrib.gis.geos import Point

    from geo_ops.reports.bulk.run import ImportRun

    count = ImportRun.count

    def count_then_race(run):
        count(run)
        Report.objects.create(
            category=Category.objects.get(code="roads_networks"),
            location=Point(*DAMMAM_CORNICHE, srid=4326),
            channel="app",
            external_id="RACE-2",
        )

    monkeypatch.setattr(ImportRun, "count", count_then_race)
    path = write_csv(tmp_path / "race.csv", [row("RACE-1"), row("RACE-2"), row("RACE-3")])

    summary = reports_import(path=path, commit=True, actor_label="t")

    assert (summary.inserted, summary.already_present, summary.rejected) == (2, 1, 0)
    assert Report.objects.filter(external_id="RACE-2").count() == 1
    assert Report.objects.filter(import_batch=summary.batch_id).count() == 2


# --- the command -------------------------------------------------------------------------------


def test_command_dry_run_then_commit(tmp_path, capsys):
    path = write_csv(tmp_path / "reports.csv", [row("CMD-1"), row("CMD-2", OPEN_GULF)])
    rejects = tmp_path / "rejects.csv"

    call_command("import_reports", str(path))
    dry = capsys.readouterr().out
    assert Report.objects.count() == 0
    assert "DRY RUN" in dry and "2 rows read" in dry and "would insert 1" in dry
    assert "outside_service_area: 1" in dry

    call_command("import_reports", str(path), "--commit", "--rejects", str(rejects))
    out = capsys.readouterr().out
    assert "committed" in out and "inserted 1" in out and str(rejects) in out
    assert Report.objects.get().external_id == "CMD-1"
    assert set(read_rejects(rejects)) == {"CMD-2"}

    call_command("import_reports", str(path), "--commit")
    assert "already present (same external_id) 1" in capsys.readouterr().out


def test_command_errors(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_reports", str(tmp_path / "nope.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="empty"):
        call_command("import_reports", str(empty), "--commit")
    assert BranchMunicipality.objects.filter(code="dammam").exists()  # untouched reference data
