"""The bulk import's COPY in parts (geo_ops.db.staging): cuts at record boundaries, rows
numbered in file order across the parts, errors placed on the file's line, no part left behind.

The tests make every file "big": PART_MIN_BYTES is lowered so that a few dozen rows are cut
into GEO_OPS_IMPORT_COPY_SESSIONS parts, each loaded by a session of its own, as a 100 MB file is.
Only an import that is not inside a caller's transaction does that, so those tests are
transactional (an ordinary django_db test runs in a transaction of its own).
"""

import csv
import io
import json
import os
import signal
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from django.db import connection, transaction

from geo_ops.db import staging
from geo_ops.reports.bulk import ReportImportError, reports_import
from geo_ops.reports.models import ImportBatch, Report
from tests.conftest import KHOBAR_CENTRE, OPEN_GULF
from tests.reports.test_import_reports import COLUMNS, read_rejects, row, write_csv

pytestmark = pytest.mark.django_db

PARTS = 3


@pytest.fixture
def in_parts(monkeypatch, settings):
    monkeypatch.setattr(staging, "PART_MIN_BYTES", 1)
    settings.GEO_OPS_IMPORT_COPY_SESSIONS = PARTS


def part_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE %s ORDER BY 1",
            [staging.PART_PREFIX + "%"],
        )
        return [name for (name,) in cursor.fetchall()]


def parts_made(monkeypatch, after_copy=None) -> list[list[int]]:
    """The rows of each part, one list per import (StagedParts.copy watched); after_copy(), if
    given, runs once the parts are loaded."""
    made = []
    real_copy = staging.StagedParts.copy

    def copy(self, **kwargs):
        rows = real_copy(self, **kwargs)
        made.append(list(self.rows))
        if after_copy is not None:
            after_copy()
        return rows

    monkeypatch.setattr(staging.StagedParts, "copy", copy)
    return made


def records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- the cuts -----------------------------------------------------------------------------------


def test_cuts_fall_between_records_never_inside_a_quoted_field(tmp_path):
    # Every record has a quoted field with newlines and doubled quotes across most of its bytes,
    # so a cut at the first newline past each share would land inside one.
    lines = ["id,text"]
    for i in range(200):
        text = f'line one of {i}\nhe said ""stop""\n' + "x" * (i % 17) + "\nend"
        lines.append(f'{i},"{text}"')
    path = tmp_path / "quoted.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    data = path.read_bytes()
    start = data.index(b"\n") + 1

    for parts in (2, 3, 7, 50):
        ranges = staging.record_ranges(path, start, parts)
        assert len(ranges) == parts
        assert ranges[0][0] == start and ranges[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        pieces = [records(data[a:b]) for a, b in ranges]
        assert all(len(r) == 2 for piece in pieces for r in piece)  # whole records only
        assert [r for piece in pieces for r in piece] == records(data[start:])


def test_an_unterminated_quote_stops_the_cutting(tmp_path):
    path = tmp_path / "open.csv"
    path.write_bytes(b'id,text\n1,a\n2,"never closed\n3,b\n4,c\n5,d\n6,e\n')
    ranges = staging.record_ranges(path, 8, 12)
    # The first share ends inside record 1, so it is cut after it; every later share ends
    # inside the open quote, where no newline ends a record.
    assert ranges == [(8, 12), (12, path.stat().st_size)]


# --- imports in parts ---------------------------------------------------------------------------


def numbered_file(tmp_path: Path, rows: list[dict]) -> Path:
    return write_csv(tmp_path / "parts.csv", rows)


@pytest.mark.django_db(transaction=True)
def test_rows_are_numbered_in_file_order_across_the_parts(tmp_path, in_parts, reference_data):
    rows = [row(f"P-{i:03d}", description=f"report {i}") for i in range(1, 61)]
    rows[10]["description"] = 'two\nlines, and "quotes"'  # one record over three lines
    rows[25] = row("P-BAD", OPEN_GULF)  # outside the service area
    rows[44] = row("P-005")  # the id of row 5 again
    rows[50] = row("P-051", KHOBAR_CENTRE, channel="fax")
    path = numbered_file(tmp_path, rows)
    rejects = tmp_path / "rejects.csv"

    summary = reports_import(path=path, commit=True, rejects_path=rejects, actor_label="t")

    assert (summary.read, summary.inserted, summary.rejected) == (60, 57, 3)
    stored = list(Report.objects.order_by("id").values_list("external_id", flat=True))
    expected = [r["external_id"] for i, r in enumerate(rows) if i not in (25, 44, 50)]
    assert stored == expected  # ids follow the file, whichever part a row came in
    assert Report.objects.get(external_id="P-011").description == 'two\nlines, and "quotes"'
    rejected = read_rejects(rejects)
    assert rejected["P-BAD"]["source_row"] == "26"
    assert rejected["P-051"]["source_row"] == "51"
    assert rejected["P-005"]["source_row"] == "45"
    assert "is already on row 5" in rejected["P-005"]["reason"]


@pytest.mark.django_db(transaction=True)
def test_the_cut_really_made_several_parts(tmp_path, in_parts, monkeypatch, reference_data):
    made = parts_made(monkeypatch)
    path = numbered_file(tmp_path, [row(f"Q-{i}") for i in range(30)])
    reports_import(path=path, commit=False, actor_label="t")
    assert len(made[0]) == PARTS and sum(made[0]) == 30 and min(made[0]) > 0


@pytest.mark.django_db(transaction=True)
def test_a_broken_record_in_a_later_part_names_its_line_and_leaves_nothing(
    tmp_path, in_parts, reference_data
):
    rows = [row(f"B-{i:03d}") for i in range(1, 61)]
    rows[4]["description"] = "first\nsecond"  # a record over two lines before the break
    path = numbered_file(tmp_path, rows)
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    broken_line = len(text) - 3  # 1-based line of the file, in the last part
    text[broken_line - 1] = "B-999,26.4,50.1\n"
    path.write_text("".join(text), encoding="utf-8")

    with pytest.raises(ReportImportError, match=f"line {broken_line} of the file"):
        reports_import(path=path, commit=True, actor_label="t")

    assert Report.objects.count() == 0 and ImportBatch.objects.count() == 0
    assert part_tables() == []


@pytest.mark.django_db(transaction=True)
def test_parts_of_a_committed_or_dry_run_or_failed_import_are_dropped(
    tmp_path, in_parts, reference_data, monkeypatch
):
    path = numbered_file(tmp_path, [row(f"D-{i}") for i in range(30)])
    reports_import(path=path, commit=False, actor_label="t")
    assert part_tables() == []
    reports_import(path=path, commit=True, actor_label="t")
    assert part_tables() == [] and Report.objects.count() == 30

    def fail(*args, **kwargs):
        raise RuntimeError("the insert broke")

    monkeypatch.setattr("geo_ops.reports.bulk.insert_rows", fail)
    again = numbered_file(tmp_path, [row(f"E-{i}") for i in range(30)])
    with pytest.raises(RuntimeError):
        reports_import(path=again, commit=True, actor_label="t")
    assert part_tables() == [] and Report.objects.count() == 30


def wait_for_lock_release(key: int, seconds: float = 10) -> None:
    """A closed session's backend ends (and lets go of its advisory locks) a moment after the
    client closed it: on a busy machine, later than the next statement of the test."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = %s)",
                [key],
            )
            if not cursor.fetchone()[0]:
                return
            time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_parts_left_by_a_dead_import_are_dropped_but_a_running_ones_are_kept(
    tmp_path, reference_data
):
    dead, running = f"{staging.PART_PREFIX}_0000dead_1", f"{staging.PART_PREFIX}_0000beef_1"
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute(f"CREATE UNLOGGED TABLE {dead} (row_no bigint)")
            cursor.execute(f"CREATE UNLOGGED TABLE {running} (row_no bigint)")
            # An import still running holds its tag's lock on its session.
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s)", [staging._LOCK_CLASS, int("0000beef", 16)]
            )
        path = numbered_file(tmp_path, [row("S-1")])
        reports_import(path=path, commit=True, actor_label="t")
        assert part_tables() == [running]
    finally:
        other.close()
    wait_for_lock_release(int("0000beef", 16))
    reports_import(path=numbered_file(tmp_path, [row("S-2")]), commit=True, actor_label="t")
    assert part_tables() == []
    assert list(Report.objects.values_list("external_id", flat=True).order_by("id")) == [
        "S-1",
        "S-2",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_parts_header_is_not_a_row_and_a_tab_file_splits_too(
    tmp_path, in_parts, reference_data
):
    path = write_csv(
        tmp_path / "tabs.tsv", [row(f"T-{i}") for i in range(12)], columns=COLUMNS, delimiter="\t"
    )
    summary = reports_import(path=path, commit=True, actor_label="t")
    assert (summary.read, summary.inserted, summary.rejected) == (12, 12, 0)


# --- a caller's transaction ---------------------------------------------------------------------


def committed_part_tables() -> list[str]:
    """The part tables another session sees: those committed."""
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE %s", [staging.PART_PREFIX + "%"]
            )
            return [name for (name,) in cursor.fetchall()]
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_an_import_inside_a_callers_transaction_loads_one_part_in_it(
    tmp_path, in_parts, reference_data, monkeypatch
):
    def not_committed_apart():
        assert committed_part_tables() == []  # not committed by sessions of their own

    made = parts_made(monkeypatch, after_copy=not_committed_apart)
    path = numbered_file(tmp_path, [row(f"N-{i}") for i in range(30)])

    class CallerGaveUp(Exception):
        pass

    with pytest.raises(CallerGaveUp), transaction.atomic():
        summary = reports_import(path=path, commit=True, actor_label="t")
        assert summary.inserted == 30 and Report.objects.count() == 30
        raise CallerGaveUp  # the caller's transaction rolls back after the import's commit

    assert made == [[30]]  # one part, in the caller's transaction
    assert Report.objects.count() == 0 and ImportBatch.objects.count() == 0
    assert committed_part_tables() == [] and part_tables() == []


# --- where a broken record is -------------------------------------------------------------------


def raw_file(tmp_path: Path, records: list[str], eol: str) -> Path:
    path = tmp_path / "raw.csv"
    path.write_bytes(eol.join([",".join(COLUMNS), *records, ""]).encode())
    return path


def raw_record(external_id: str, description: str = "plain") -> str:
    values = row(external_id, description=description)
    text = values["description"]
    values["description"] = f'"{text}"' if any(c in text for c in '\r\n",') else text
    return ",".join(values[name] for name in COLUMNS)


@pytest.mark.parametrize(
    ("eol", "inner"),
    [("\n", "\n"), ("\r\n", "\r\n"), ("\r\n", "\n"), ("\n", "\r\n"), ("\r", "\r"), ("\r", "\n")],
    ids=["LF", "CRLF", "CRLF-with-quoted-LF", "LF-with-quoted-CRLF", "CR", "CR-with-quoted-LF"],
)
@pytest.mark.parametrize("broken_at", [3, 37, 58])
@pytest.mark.django_db(transaction=True)
def test_a_broken_record_is_placed_on_the_files_own_line(
    tmp_path, in_parts, reference_data, eol, inner, broken_at
):
    # Quoted line breaks everywhere, the first record's included, where COPY's own count of
    # lines differs from the file's (see staging.copy_record_start), in every part.
    records = [
        raw_record(f"L-{i:02d}", f"first{inner}second{inner}third" if i % 4 == 0 else "plain")
        for i in range(60)
    ]
    records[broken_at] = "L-XX,26.4,50.1"  # too few fields
    path = raw_file(tmp_path, records, eol)
    text = path.read_bytes().decode()
    before = text[: text.index("L-XX")]
    expected = len(before.splitlines()) + 1  # as an editor counts (CRLF, LF, CR)

    with pytest.raises(ReportImportError, match=rf"\(line {expected} of the file\)"):
        reports_import(path=path, commit=True, actor_label="t")
    assert part_tables() == [] and Report.objects.count() == 0


def test_copy_record_start_counts_lines_as_copy_does(tmp_path):
    # A CRLF file whose first record holds a quoted LF and a quoted CRLF: COPY counts only the
    # CR of the first record (its line break not known yet), and only CRs after it.
    data = b'id,text\r\n1,"a\nb\r\nc"\r\n2,"d\ne"\r\n3,"f\r\ng"\r\n4,x\r\n'
    path = tmp_path / "count.csv"
    path.write_bytes(data)
    start = data.index(b"\r\n") + 2
    record = {n: data.index(f"\n{n},".encode()) + 1 for n in (2, 3, 4)}
    record[1] = start
    # COPY's lines: record 1 is 1-2 (its CR), 2 is 3 (its LF not counted), 3 is 4-5, 4 is 6.
    expected = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3, 6: 4}
    for line, number in expected.items():
        assert staging.copy_record_start(path, start, len(data), line) == record[number]
    assert staging.copy_record_start(path, start, len(data), 7) is None
    assert staging.line_at(path, record[4]) == 9  # after 8 line breaks: 5 CRLF, 3 LF


# --- the end-of-data marker ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eol", "at"),
    [("\n", 0), ("\n", 3), ("\r\n", 3), ("\r\n", 50), ("\r", 3)],
    ids=["LF-first-record", "LF", "CRLF", "CRLF-later-part", "CR"],
)
@pytest.mark.django_db(transaction=True)
def test_a_lone_backslash_dot_record_is_refused_not_taken_for_the_end(
    tmp_path, in_parts, reference_data, eol, at
):
    # COPY would take it for the end of the data and quietly load only the rows before it.
    records = [raw_record(f"M-{i:02d}") for i in range(60)]
    records.insert(at, "\\.")
    path = raw_file(tmp_path, records, eol)
    with pytest.raises(ReportImportError, match=rf'line {at + 2} holds only "\\\.", which'):
        reports_import(path=path, commit=True, actor_label="t")
    assert part_tables() == [] and ImportBatch.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_backslash_dot_inside_a_quoted_value_or_at_the_very_end_is_no_end_marker(
    tmp_path, in_parts, reference_data
):
    records = [raw_record(f"V-{i:02d}") for i in range(40)]
    records[30] = raw_record("V-30", "before\n\\.\nafter")
    records.append("\\.")  # the last line: COPY ends there, which loses nothing
    path = raw_file(tmp_path, records, "\n")
    summary = reports_import(path=path, commit=True, actor_label="t")
    assert (summary.read, summary.inserted) == (40, 40)
    assert Report.objects.get(external_id="V-30").description == "before\n\\.\nafter"


# --- sessions refused ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_import_refused_more_sessions_loads_in_fewer_parts(
    tmp_path, in_parts, reference_data, monkeypatch
):
    opened = []
    real_new_session = staging._new_session

    def new_session():
        # The owner's session and one more; then the server refuses, as at max_connections.
        if len(opened) == 2:
            raise psycopg2.OperationalError("FATAL:  sorry, too many clients already")
        opened.append(real_new_session())
        return opened[-1]

    monkeypatch.setattr(staging, "_new_session", new_session)
    made = parts_made(monkeypatch)
    rows = [row(f"F-{i:02d}") for i in range(30)]
    summary = reports_import(path=numbered_file(tmp_path, rows), commit=True, actor_label="t")

    assert len(made[0]) == 2 and PARTS == 3  # the two sessions it had, not the three it wanted
    assert (summary.read, summary.inserted) == (30, 30)
    assert list(Report.objects.order_by("id").values_list("external_id", flat=True)) == [
        r["external_id"] for r in rows
    ]
    assert all(session.closed for session in opened) and part_tables() == []


# --- a read that fails --------------------------------------------------------------------------


class PartReads:
    """Counts and steers the reads of each part's bytes (parts numbered from 1 in file order).

    on_first_read[k](): run at part k's first read, before its data is read (raise to fail it);
    `stopped` is set when the import tells the other parts to stop.
    """

    def __init__(self, path: Path, monkeypatch):
        data_start = path.read_bytes().index(b"\n") + 1
        self.starts = [a for a, _ in staging.record_ranges(path, data_start, PARTS)]
        self.reads = {k: 0 for k in range(1, PARTS + 1)}
        self.on_first_read = {}
        self.stopped = threading.Event()
        self.reading = {k: threading.Event() for k in self.reads}  # its first read began
        real_readinto, real_cancel = staging._ByteRange.readinto, staging._cancel
        reads = self

        def readinto(self, target):
            if not hasattr(self, "part"):
                self.part = reads.starts.index(self._file.tell()) + 1
            reads.reads[self.part] += 1
            reads.reading[self.part].set()
            if reads.reads[self.part] == 1 and self.part in reads.on_first_read:
                reads.on_first_read[self.part]()
            return real_readinto(self, target)

        def cancel(sessions):
            reads.stopped.set()
            real_cancel(sessions)

        monkeypatch.setattr(staging._ByteRange, "readinto", readinto)
        monkeypatch.setattr(staging, "_cancel", cancel)

    def wait_until_stopped(self) -> None:
        assert self.stopped.wait(timeout=20), "the import never told the parts to stop"

    def wait_until_reading(self, part: int) -> None:
        assert self.reading[part].wait(timeout=20), f"part {part} never began to read"


@pytest.mark.parametrize(
    ("part", "raised"),
    [(1, KeyboardInterrupt), (3, OSError)],
    ids=["ctrl-c-while-reading-the-first-part", "read-error-in-a-later-part"],
)
@pytest.mark.django_db(transaction=True)
def test_a_read_that_fails_is_raised_as_it_was_not_as_a_broken_file(
    tmp_path, in_parts, reference_data, monkeypatch, part, raised
):
    # psycopg2 turns an exception inside read() into the COPY's own error; the import raises
    # the exception itself (no "cannot load ... line N"), and drops every part.
    path = numbered_file(tmp_path, [row(f"R-{i:02d}") for i in range(60)])
    reads = PartReads(path, monkeypatch)

    def fail():
        raise raised("the disk went away")

    reads.on_first_read[part] = fail
    with pytest.raises(raised, match="the disk went away"):
        reports_import(path=path, commit=True, actor_label="t")
    assert part_tables() == [] and Report.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_part_that_fails_stops_the_parts_after_it_at_their_next_read(
    tmp_path, in_parts, reference_data, monkeypatch
):
    path = numbered_file(tmp_path, [row(f"S-{i:02d}") for i in range(60)])
    reads = PartReads(path, monkeypatch)

    def fail():
        reads.wait_until_reading(3)
        raise OSError("the disk went away")

    reads.on_first_read[2] = fail
    reads.on_first_read[3] = reads.wait_until_stopped  # still reading when part 2 fails
    with pytest.raises(OSError, match="the disk went away"):
        reports_import(path=path, commit=True, actor_label="t")
    # Part 3 read its data once and was stopped at its next read (its end of file, else).
    assert reads.reads == {1: 2, 2: 1, 3: 1}
    assert part_tables() == []


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_while_the_other_parts_load_stops_them(
    tmp_path, in_parts, reference_data, monkeypatch
):
    path = numbered_file(tmp_path, [row(f"C-{i:02d}") for i in range(60)])
    reads = PartReads(path, monkeypatch)

    def interrupt_then_wait():  # part 2: Ctrl-C reaches the import (its main thread)
        reads.wait_until_reading(3)
        os.kill(os.getpid(), signal.SIGINT)
        reads.wait_until_stopped()

    reads.on_first_read[2] = interrupt_then_wait
    reads.on_first_read[3] = reads.wait_until_stopped
    with pytest.raises(KeyboardInterrupt):
        reports_import(path=path, commit=True, actor_label="t")
    assert reads.reads[2] == 1 and reads.reads[3] == 1  # stopped, not read to the end
    assert part_tables() == [] and Report.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_geojson_feature_copy_refuses_is_named_by_its_number(tmp_path, reference_data):
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(KHOBAR_CENTRE)},
            "properties": {**row(f"G-{i}"), "description": f"line one\nline two of {i}"},
        }
        for i in range(1, 6)
    ]
    features[3]["properties"]["description"] = "a NUL \u0000 byte, which text cannot hold"
    path = tmp_path / "nul.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with pytest.raises(ReportImportError, match=r"0x00 \(feature 4\)"):
        reports_import(path=path, commit=True, actor_label="t")
    assert Report.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_geojson_value_with_a_lone_carriage_return_is_data(tmp_path, reference_data):
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(KHOBAR_CENTRE)},
            "properties": {**row(f"H-{i}"), "description": f"old Mac line\rbreak {i}"},
        }
        for i in range(1, 4)
    ]
    path = tmp_path / "cr.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    summary = reports_import(path=path, commit=True, actor_label="t")
    assert (summary.read, summary.inserted) == (3, 3)
    assert Report.objects.get(external_id="H-2").description == "old Mac line\rbreak 2"


@pytest.mark.parametrize("eol", [b"\r", b"\r\n"], ids=["CR-file", "CRLF-file"])
def test_a_header_with_a_quoted_line_break_ends_at_its_own_line_break(tmp_path, eol):
    header = ",".join(COLUMNS).encode() + b',"odd\rname"'
    records = [f"{raw_record(f'X-{i}')},extra".encode() for i in range(2)]
    path = tmp_path / "odd.csv"
    path.write_bytes(eol.join([header, *records, b""]))
    rejects = tmp_path / "rejects.csv"
    summary = reports_import(path=path, commit=False, rejects_path=rejects, actor_label="t")
    assert (summary.read, summary.rejected) == (2, 0)
