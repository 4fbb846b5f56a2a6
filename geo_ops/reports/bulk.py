"""Bulk import of citizen reports from CSV or GeoJSON, set-based from end to end.

`reports_import()` runs in one transaction, so a failure anywhere leaves no half-written rows
(nor scratch tables: the staging parts, committed by sessions of their own unless the import
runs inside a caller's transaction, are dropped as well, or by the next import if this one's
process dies; see `staging`). The rows never pass through a Python loop:

1. COPY the file into UNLOGGED staging tables of text columns. A CSV goes to COPY as it is
   (PostgreSQL's CSV parser reads the rows), a big one cut into parts that load at the same
   time (`staging`); a GeoJSON FeatureCollection is converted to CSV rows on the fly while
   COPY reads, format only (the document itself is parsed in memory with the json module, fine
   for files of a few hundred MB; larger ones should come as CSV).
2. One flat CREATE TABLE AS parses and looks up every row in parallel workers: regex-guarded
   casts that cannot raise, so one bad value cannot abort the import; category or subcategory;
   duplicates within the file; rows already stored; and the branch (and district) of every
   point whose grid cell lies wholly inside one (`layers.selectors.grid_join_sql`), a hash join
   on the cell key without any geometry test.
3. The spatial join of the rest (near a boundary or outside, a few percent): their points go
   into a narrow table with a GiST index, and each subdivided boundary piece finds its points
   (`_Run.locate`, which says why not one LATERAL probe per point). Points on a shared edge get
   the tie-break of layers.selectors. Whether a row is valid is then a cheap predicate over the
   checked table, and the reasons are spelled out only for the rows that fail it, every fault
   of a row in its `reason`.
4. One INSERT ... SELECT of the valid rows (with commit). A load big relative to the table
   drops the secondary indexes and the foreign keys first and re-creates them after
   (`_drop_secondary`, with the measurements).
5. The rejected rows go to the rejects file: their original columns, `reason`, `source_row`.

File columns: external_id, lat, lon, category (a category or subcategory code), channel,
created_at, status (default new), closed_at, description; other columns are carried into the
rejects file and otherwise ignored. A GeoJSON file carries them as the properties of Point
features, whose coordinates give lon and lat. Timestamps are ISO 8601 (`2024-03-01`,
`2024-03-01 08:15`, `2024-03-01T08:15:00.5+03:00`, `...Z`); without an offset they are local time
in settings.TIME_ZONE (Asia/Riyadh). Imported reports are historical records: they get the SLA
due time of their (sub)category, but no duplicate detection and no dispatch; the ImportBatch row
is their audit record.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import logging
import math
import time
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now

from geo_ops.db.staging import COPY_TOKENS, CopyPartError, StagedParts, end_marker_line, new_tag
from layers.selectors import boundary_join_sql, grid_join_sql

from .models import (
    TRACKING_NUMBER_FORMAT_FUNCTION,
    TRACKING_NUMBER_SEQUENCE,
    Channel,
    ImportBatch,
    Report,
    Status,
)

logger = logging.getLogger(__name__)

COLUMNS = (
    "external_id",
    "lat",
    "lon",
    "category",
    "channel",
    "created_at",
    "status",
    "closed_at",
    "description",
)
REQUIRED_COLUMNS = ("external_id", "lat", "lon", "category", "channel", "created_at")
# closed_at is only meaningful once a report left the field work.
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED, Status.REJECTED, Status.DUPLICATE)
EXTERNAL_ID_MAX_CHARS = Report._meta.get_field("external_id").max_length
# Clock skew allowed between the source system and the database for "not in the future".
FUTURE_TOLERANCE = "5 minutes"

# The load is "big relative to the table" when it brings at least BULK_MIN_ROWS rows and at
# least REBUILD_RATIO times the rows already stored; then the indexes and foreign keys are
# re-created rather than maintained row by row (_drop_secondary). Row by row costs ~30 us per
# new row, a rebuild ~5-6 us per row of the whole table, so the break-even is near a load of a
# quarter of the table; 0.5 stays on the safe side because a rebuild also keeps readers waiting.
BULK_MIN_ROWS = 10_000
REBUILD_RATIO = 0.5

# Memory for the import transaction only (SET LOCAL): the hash joins and aggregations of a
# million rows stay in memory, index builds sort in one pass.
WORK_MEM = "256MB"
MAINTENANCE_WORK_MEM = "1GB"
# The longest header line read (a first line without a line break is no CSV header).
HEADER_MAX_BYTES = 1 << 20

# Surrounding spaces allowed in the patterns, so the raw column can be tested without btrim()
# (which costs more than the pattern when repeated in every reference); float8 and timestamptz
# input ignore them too.
_NUMBER_RE = r"^ *[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})? *$"
_DECIMAL_RE = r"^-?[0-9]+\.[0-9]+$"
_NON_FINITE_RE = r"^[+-]?(nan|inf|infinity)$"
# ISO 8601: a date, optionally a time (T or space, minutes, seconds, fraction) with an optional
# offset (Z, +03, +03:00, +0300). Fields are range-checked in the pattern itself; only the day of
# the month needs arithmetic. Tested with `~`, not regexp_match(): extracting the groups made
# PostgreSQL ten times slower (20 us a value).
_TIMESTAMP_RE = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r" ?(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)?)? *$"
)


# Every valid date (1900-2099), time of day and UTC offset as text, with its value: fixed data,
# made by migration reports 0006 (see _timestamp_sql).
PARSE_TABLES = {
    "dates": "reports_parse_date",
    "times": "reports_parse_time",
    "offsets": "reports_parse_offset",
}


class ReportImportError(Exception):
    """The file cannot be imported at all (unreadable, missing columns, malformed structure)."""


@dataclass
class ImportSummary:
    """What an import did, or would do on a dry run.

    Always read = inserted + already_present + rejected (inserted: "would insert" on a dry run).
    """

    path: str
    file_format: str
    committed: bool = False
    read: int = 0
    inserted: int = 0
    already_present: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    batch_id: int | None = None
    rejects_path: str | None = None
    rebuilt_indexes: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    def lines(self) -> list[str]:
        """A human-readable summary, one fact a line."""
        mode = "committed" if self.committed else "DRY RUN (nothing saved; use --commit)"
        verb = "inserted" if self.committed else "would insert"
        out = [
            f"{mode}: {self.path} ({self.file_format}), {self.read} rows read "
            f"in {self.seconds:.1f} s",
            f"  {verb} {self.inserted}",
            f"  already present (same external_id) {self.already_present}",
            f"  rejected {self.rejected}",
        ]
        out += [
            f"    {reason}: {count}"
            for reason, count in sorted(self.rejected_by_reason.items(), key=lambda kv: -kv[1])
        ]
        if self.rejects_path and self.rejected:
            out.append(f"  rejected rows with their reasons written to {self.rejects_path}")
        elif self.rejected:
            out.append("  (pass --rejects PATH to get the rejected rows with their reasons)")
        if self.batch_id:
            out.append(f"  import batch {self.batch_id}")
        return out


# --- reading the file --------------------------------------------------------------------------


@dataclass
class _Source:
    """A file ready for COPY: its format, its column names, and a binary stream of CSV rows."""

    file_format: str
    header: list[str]
    stream: io.RawIOBase | io.BufferedReader
    delimiter: str = ","
    # A CSV file is read by COPY from the file itself, its data from byte data_start on (after
    # the header), so that it can be cut into parts; `stream` is then only the open file.
    path: Path | None = None
    data_start: int = 0


def _open_source(path: Path) -> _Source:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ReportImportError(f"cannot read {path}: {exc.strerror}") from exc
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _geojson_source(path, handle)
    # Unknown extension: a JSON document starts with "{" (after optional white space).
    if suffix not in (".csv", ".txt", ".tsv") and handle.peek(64).lstrip()[:1] == b"{":
        return _geojson_source(path, handle)
    return _csv_source(path, handle)


def _csv_source(path: Path, handle: io.BufferedReader) -> _Source:
    """Read the header line only; the rest of the file goes to COPY untouched."""
    line = _header_line(path, handle)
    try:
        text = line.decode("utf-8-sig")  # spreadsheets often write a byte-order mark
    except UnicodeDecodeError as exc:
        handle.close()
        raise ReportImportError(f"{path} is not UTF-8 text") from exc
    if not text.strip():
        handle.close()
        raise ReportImportError(f"{path} is empty: expected a header line with the columns")
    # Comma, or semicolon / tab as some spreadsheets export: whichever splits the header most.
    delimiter = max((",", ";", "\t"), key=text.count)
    header = [name.strip().lower() for name in next(csv.reader([text], delimiter=delimiter))]
    _check_header(path, header)
    return _Source("csv", header, handle, delimiter, path=path, data_start=handle.tell())


def _header_line(path: Path, handle: io.BufferedReader) -> bytes:
    """The file's first record, up to its line break (LF, CRLF or a CR alone, as in old Mac
    files) outside quotes; the handle is left at the data."""
    head = handle.read(HEADER_MAX_BYTES + 1)
    quoted = False
    for match in COPY_TOKENS.finditer(head):
        if match.group() == b'"':
            quoted = not quoted
        elif not quoted:
            end = match.end() + (head[match.start() : match.end() + 1] == b"\r\n")
            break
    else:
        if len(head) > HEADER_MAX_BYTES:
            handle.close()
            raise ReportImportError(f"{path}: no header line in its first MB (is it a CSV file?)")
        end = len(head)
    handle.seek(end)
    return head[:end]


def _check_header(path: Path, header: list[str]) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ReportImportError(f"{path}: column(s) {', '.join(duplicated)} appear twice")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ReportImportError(
            f"{path}: missing column(s) {', '.join(missing)}; the header has "
            f"{', '.join(header) or 'nothing'} (expected {', '.join(COLUMNS)})"
        )


def _geojson_source(path: Path, handle: io.BufferedReader) -> _Source:
    """Features -> CSV rows, converted lazily while COPY reads (format only, no validation).

    The column `_geometry_error` carries what cannot be said in lat/lon (a feature that is not a
    Point); the set-based validation turns it into the row's reason like any other fault.
    """
    with handle:
        try:
            document = json.load(handle)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReportImportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("type") not in (
        "FeatureCollection",
        "Feature",
    ):
        raise ReportImportError(f"{path} is not a GeoJSON FeatureCollection")
    crs = ((document.get("crs") or {}).get("properties") or {}).get("name", "")
    if crs and not crs.upper().endswith(("CRS84", "4326")):
        raise ReportImportError(f"{path}: coordinates in {crs}; GeoJSON must be WGS84 (RFC 7946)")
    features = document.get("features") if document["type"] == "FeatureCollection" else [document]
    if not isinstance(features, list):
        raise ReportImportError(f"{path}: 'features' is not a list")
    header = [*COLUMNS, "_geometry_error"]
    return _Source("geojson", header, _CsvStream(_feature_rows(features)))


def _feature_rows(features: list) -> Iterator[list[str]]:
    for feature in features:
        feature = feature if isinstance(feature, dict) else {}
        properties = feature.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        row = [_text(properties.get(name)) for name in COLUMNS]
        row[1] = row[2] = ""  # lat, lon come from the geometry only
        geometry = feature.get("geometry")
        error = ""
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            if isinstance(coordinates, list) and len(coordinates) >= 2:
                row[2], row[1] = _text(coordinates[0]), _text(coordinates[1])
        elif geometry is not None:
            kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
            error = f"geometry_not_point: the feature's geometry is {kind!s:.40}, not a Point"
        yield [*row, error]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # nan / inf: rejected in SQL
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class _CsvStream(io.RawIOBase):
    """A readable binary stream of CSV text produced from rows on demand (for COPY FROM)."""

    def __init__(self, rows: Iterable[list[str]], batch: int = 2000):
        self._rows = iter(rows)
        self._batch = batch
        self._buffer = b""
        # COPY's line number at the end of each row written (see row_of_copy_line)
        self._copy_lines = array("q")

    def row_of_copy_line(self, line: int) -> int:
        """The 1-based row on which COPY reports `line` of this stream.

        COPY counts a line per row plus each line break inside a quoted value that matches the
        rows' own (CRLF here, of which it counts the CR; within the first row, before that is
        known, CRs too): see staging.copy_record_start.
        """
        return bisect.bisect_left(self._copy_lines, line) + 1

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self._buffer) < len(target):
            text = io.StringIO()
            # CRLF: the csv module then quotes a value holding a CR or an LF (with "\n" alone it
            # leaves a lone CR bare, which COPY refuses), and COPY counts each quoted CR.
            writer = csv.writer(text, lineterminator="\r\n")
            count = 0
            for row in self._rows:
                writer.writerow(row)
                count += 1
                last = self._copy_lines[-1] if self._copy_lines else 0
                self._copy_lines.append(last + 1 + sum(value.count("\r") for value in row))
                if count == self._batch:
                    break
            if not count:
                break
            self._buffer += text.getvalue().encode()
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


# --- SQL fragments -----------------------------------------------------------------------------


def _number_sql(text: str) -> str:
    """float8 of a text, or NULL when it is not a plain decimal number (never raises).

    The length and exponent limits keep every accepted value inside float8's range. The usual
    shape of a coordinate (`26.4351`, `-0.5`) is tried first with a simpler pattern, which
    PostgreSQL's regex engine runs in half the time of the full one (0.2 against 0.4 us a
    value; counted repetitions like {1,3} would make it slower, not faster).
    """
    return (
        f"CASE WHEN octet_length({text}) > 60 THEN NULL "
        f"WHEN {text} ~ '{_DECIMAL_RE}' OR {text} ~ '{_NUMBER_RE}' THEN {text}::float8 END"
    )


def _timestamp_sql(text: str, lookup: str | None = None) -> str:
    """timestamptz of an ISO 8601 text, or NULL when it is not a real time (never raises).

    The pattern and the day-of-month check admit only what PostgreSQL's own parser accepts, so
    the cast behind them cannot abort the statement (2024-02-30 is NULL, not an error). A text
    without an offset is read in the session time zone, which the import sets to
    settings.TIME_ZONE. The fields sit at fixed places once leading spaces are gone; only a
    text that has some pays for btrim().

    lookup: the alias prefix of the three joined PARSE_TABLES that recognise
    the common shape `YYYY-MM-DD[T ]HH:MM:SS[offset]` by its parts: three hash probes instead of
    the pattern, which costs ~2 us a value (PostgreSQL's regex engine, ~70 ns a character) and
    was a third of the whole validation. Every other text takes the pattern.
    """

    def parse(t: str) -> str:
        year, month, day = (f"substr({t}, {i}, {n})::int" for i, n in ((1, 4), (6, 2), (9, 2)))
        leap = f"mod({year}, 4) = 0 AND (mod({year}, 100) <> 0 OR mod({year}, 400) = 0)"
        day_exists = (
            f"({day} <= 28 OR {day} <= CASE WHEN {month} = 2 THEN CASE WHEN {leap} THEN 29 "
            f"ELSE 28 END WHEN {month} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
        )
        return (
            f"CASE WHEN {t} ~ '{_TIMESTAMP_RE}' AND left({t}, 4) <> '0000' AND {day_exists} "
            f"THEN {t}::timestamptz END"
        )

    slow = f"CASE WHEN {text} LIKE ' %%' THEN {parse(f'btrim({text})')} ELSE {parse(text)} END"
    if lookup is None:
        return slow
    d, t, o = (f"{lookup}_{part}" for part in ("d", "t", "o"))
    return (
        f"CASE WHEN {d}.value IS NOT NULL AND {t}.value IS NOT NULL "
        f"AND ({o}.text IS NOT NULL OR octet_length({text}) = 19) "
        f"AND substr({text}, 11, 1) IN ('T', ' ') "
        f"THEN CASE WHEN {o}.text IS NULL THEN ({d}.value + {t}.value)::timestamptz "
        f"ELSE ({d}.value + {t}.value - {o}.value) AT TIME ZONE 'UTC' END "
        f"ELSE {slow} END"
    )


def _timestamp_lookup_joins(text: str, lookup: str) -> str:
    """The LEFT JOINs that _timestamp_sql(text, lookup) reads (date, time, offset parts)."""
    d, t, o = (f"{lookup}_{part}" for part in ("d", "t", "o"))
    return (
        f"LEFT JOIN {PARSE_TABLES['dates']} AS {d} ON {d}.text = left({text}, 10) "
        f"LEFT JOIN {PARSE_TABLES['times']} AS {t} ON {t}.text = substr({text}, 12, 8) "
        # Most texts end at the seconds: no probe for them (a NULL key matches nothing).
        f"LEFT JOIN {PARSE_TABLES['offsets']} AS {o} "
        f"ON {o}.text = CASE WHEN octet_length({text}) > 19 THEN substr({text}, 20) END"
    )


def _char_length_at_most(text: str, limit: int | str) -> str:
    """SQL: the text has at most `limit` characters. Bytes first: counting the characters of
    UTF-8 text walks it character by character, while its length in bytes is stored, and a
    text of at most `limit` bytes has at most `limit` characters."""
    return f"(octet_length({text}) <= {limit} OR char_length({text}) <= {limit})"


def _quoted(text: str, limit: int = 60) -> str:
    """SQL for a short quoted echo of an input value inside a reason."""
    return f"quote_literal(left({text}, {limit}))"


# --- the run -----------------------------------------------------------------------------------


class _Run:
    """One import inside its transaction: the scratch tables, the SQL, the timings of each step.

    Scratch tables, in the order they are made:
      stage      the file as text, one row per record, numbered in file order, with lon and
                 lat parsed: a view over the committed part tables (`staging`)
      checked    every row parsed, looked up and, where its interior grid cell says so,
                 placed: one flat CREATE TABLE AS, so that its expensive expressions
                 (patterns, casts) run in parallel workers
      dups       external_ids that occur more than once, with their first row; the later
                 rows get it as first_row in checked
      branch_points
                 row -> lon, lat of the rows to insert that the grid could not place (near a
                 boundary or outside); district_points likewise
      branch_of  row -> branch of those points, found by the exact join and written back
                 into checked (district_of: row -> district, when a district layer is loaded)
      rejected   row -> reason for the rows that are not imported (few)
    Whether a checked row is valid is a cheap predicate over its columns (`valid_sql`); its
    reasons are spelled out only for the rows that fail it (`reasons_sql`).
    """

    def __init__(self, cursor, source: _Source, summary: ImportSummary, parts: StagedParts):
        self.cursor = cursor
        self.source = source
        self.summary = summary
        self.parts = parts
        tag = parts.tag
        # Regular UNLOGGED tables rather than TEMP ones: parallel workers cannot read temporary
        # tables, and temp buffers are small. Created and dropped inside the transaction, so a
        # failed import leaves none behind and concurrent imports never see each other's (the
        # staging parts are made outside it: see staging).
        self.tables = {
            name: f"reports_import_{name}_{tag}"
            for name in (
                "stage",
                "dups",
                "branch_points",
                "district_points",
                "branch_of",
                "district_of",
                "checked",
                "rejected",
            )
        }
        self.stage, self.dups = self.tables["stage"], self.tables["dups"]
        self.checked, self.rejected = self.tables["checked"], self.tables["rejected"]
        # (layer, piece table) of the boundary layers the rows are placed in (see keys)
        self.layers = [("branch", "layers_branchmunicipalitypiece")]
        self.mark = time.perf_counter()
        # file column -> staging column (c1, c2, ...): file headers are not trusted identifiers.
        self.column = {name: f"c{i}" for i, name in enumerate(source.header, start=1)}
        self.params = {
            "channels": list(Channel.values),
            "channels_text": ", ".join(Channel.values),
            "statuses": list(Status.values),
            "statuses_text": ", ".join(Status.values),
            "closed_statuses": [str(s) for s in CLOSED_STATUSES],
            "closed_text": ", ".join(str(s) for s in CLOSED_STATUSES),
            "description_max": settings.GEO_OPS_DESCRIPTION_MAX_CHARS,
        }
        # Settings for this transaction only (SET LOCAL). Inside a caller's transaction they would
        # outlive the import, so reports_import() then puts the caller's values back
        # (restore_settings) before it returns.
        self.settings = {
            # Losing the last moments of an import in a crash is harmless (external_id makes
            # the file safe to run again), so the commit need not wait for the WAL flush.
            "synchronous_commit": "off",
            "work_mem": WORK_MEM,
            "maintenance_work_mem": MAINTENANCE_WORK_MEM,
            # Every join here is a hash join of a big and a small table or the spatial nested
            # loop; without statistics on the fresh scratch tables the planner sometimes picks
            # merge joins that sort a million rows for nothing.
            "enable_mergejoin": "off",
            # Few, long statements whose cost is in functions (patterns, casts, PostGIS) that
            # JIT cannot speed up, while compiling each costs 0.2-1 s.
            "jit": "off",
            # Texts without an offset are local times (see _timestamp_sql). Django reads
            # timestamps assuming a UTC session, hence the restore.
            "TimeZone": settings.TIME_ZONE,
        }
        self.cursor.execute(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in self.settings)
        )
        self.saved_settings = dict(zip(self.settings, self.cursor.fetchone(), strict=True))
        self._set(self.settings)
        # "Not in the future": the import's start plus a tolerance for clock skew, as a literal
        # (cast once when the statement is parsed, not once per row like now() + interval).
        self.params["cutoff"] = self.scalar(f"SELECT (now() + interval '{FUTURE_TOLERANCE}')::text")

    def _set(self, values: dict[str, str]) -> None:
        self.cursor.execute(
            "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in values),
            [item for pair in values.items() for item in pair],
        )

    def restore_settings(self) -> None:
        self._set(self.saved_settings)

    @contextmanager
    def setting(self, **values: str) -> Iterator[None]:
        """Settings for the statements inside only (this transaction only)."""
        self.cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')" for name in values))
        before = dict(zip(values, self.cursor.fetchone(), strict=True))
        self._set(values)
        yield
        self._set(before)

    def step(self, name: str) -> None:
        now = time.perf_counter()
        self.summary.timings[name] = now - self.mark
        logger.debug("reports_import %s: %.2f s", name, now - self.mark)
        self.mark = now

    def execute(self, sql: str, params=None) -> None:
        self.cursor.execute(sql, params)

    def scalar(self, sql: str, params=None):
        self.cursor.execute(sql, params)
        return self.cursor.fetchone()[0]

    def col(self, name: str, alias: str = "s") -> str:
        """Trimmed text of a file column, NULL when empty or when the file has no such column."""
        if name not in self.column:
            return "NULL::text"
        return f"nullif(btrim({alias}.{self.column[name]}), '')"

    def raw(self, name: str, alias: str = "s") -> str:
        """The file column as loaded (for the parsers, which allow surrounding spaces)."""
        return f"{alias}.{self.column[name]}" if name in self.column else "NULL::text"

    # 1. COPY
    def load(self) -> None:
        columns = ", ".join(self.column.values())
        # CACHE: numbering a million rows one nextval at a time costs a fifth of the COPY.
        # lon and lat are parsed once, while COPY writes the row (generated columns): the grid
        # keys of `check` use each coordinate six times, and parsing costs ~1 us a value
        # (pattern and cast). Parsing them in a table of their own and joining it back cost
        # twice as much; a subquery fenced with OFFSET 0 would keep `check` out of the parallel
        # workers.
        lon, lat = (_number_sql(self.column[name]) for name in ("lon", "lat"))
        definition = f"""row_no bigint GENERATED ALWAYS AS IDENTITY (CACHE 10000),
            {", ".join(f"{c} text" for c in self.column.values())},
            lon float8 GENERATED ALWAYS AS ({lon}) STORED,
            lat float8 GENERATED ALWAYS AS ({lat}) STORED"""
        delimiter = {"\t": "E'\\t'"}.get(self.source.delimiter, f"'{self.source.delimiter}'")
        try:
            if self.source.path is not None:
                marker = end_marker_line(self.source.path, self.source.data_start)
                if marker is not None:
                    raise ReportImportError(
                        f'cannot load {self.summary.path}: line {marker} holds only "\\.", which '
                        "PostgreSQL's COPY takes for the end of the data: the rows after it would "
                        "be lost (quote it if it is a value)"
                    )
            self.rows = self.parts.copy(
                create_sql=lambda table: f"CREATE UNLOGGED TABLE {table} ({definition})",
                copy_sql=lambda table, freeze: (
                    f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, "
                    f"DELIMITER {delimiter}, ENCODING 'UTF8'{', FREEZE' if freeze else ''})"
                ),
                path=self.source.path,
                start=self.source.data_start,
                stream=self.source.stream,
            )
        except CopyPartError as exc:
            # A row with the wrong number of fields, an unterminated quote, or bytes that are not
            # UTF-8: the file's structure is broken, so nothing is imported.
            if exc.file_line:
                place = f" (line {exc.file_line} of the file)"
            elif exc.copy_line and isinstance(self.source.stream, _CsvStream):
                place = f" (feature {self.source.stream.row_of_copy_line(exc.copy_line)})"
            else:
                place = ""
            raise ReportImportError(
                f"cannot load {self.summary.path}: {str(exc.error).splitlines()[0]}{place}"
            ) from exc
        finally:
            self.source.stream.close()
        self.execute(self.parts.view_sql(self.stage, [*self.column.values(), "lon", "lat"]))
        self.step("copy")

    # 2. rows already stored, layers
    def keys(self) -> None:
        """Whether the table holds imported reports at all, and the layers to place rows in."""
        table = Report._meta.db_table
        if self.scalar(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE external_id IS NOT NULL)"):
            # The partial unique index on external_id: at most one match per row.
            # COLLATE: the column's collation is "C" (see Report.tracking_number)
            self.present_join = (
                f'LEFT JOIN {table} AS r ON r.external_id = {self.col("external_id")} COLLATE "C"'
            )
            self.present = "r.id IS NOT NULL"
        else:  # nothing imported yet (a first load): no join needed
            self.present_join, self.present = "", "false"
        # The boundary layers the rows are placed in (check, locate): districts when loaded.
        if self.scalar("SELECT EXISTS (SELECT 1 FROM layers_districtpiece)"):
            self.layers.append(("district", "layers_districtpiece"))
        self.step("keys")

    # 3b. duplicates within the file (runs after check)
    def duplicates(self) -> None:
        """Mark every later row of an external_id that occurs more than once with its first row.

        Grouped over the checked table, where the trimmed id already is (trimming it again
        cost 0.6 s a million rows), in one serial hash aggregation: the table has no
        statistics, so the planner guesses 200 groups and picks a parallel partial
        aggregation that sorts and merges all of the million groups (2.9 s against 1.3 s on
        this 2-core machine).
        """
        with self.setting(max_parallel_workers_per_gather="0"):  # serial
            self.execute(
                f"""CREATE UNLOGGED TABLE {self.dups} AS
                SELECT ext, min(row_no) AS first_row FROM {self.checked}
                WHERE ext IS NOT NULL GROUP BY ext HAVING count(*) > 1"""
            )
        if self.scalar(f"SELECT EXISTS (SELECT 1 FROM {self.dups})"):
            # A few rows, but the planner cannot know: unanalysed, it would guess more and
            # might build its hash table from the million checked rows instead.
            self.execute(f"ANALYZE {self.dups}")
            self.execute(
                f"""UPDATE {self.checked} AS c SET first_row = d.first_row
                FROM {self.dups} AS d WHERE c.ext = d.ext AND c.row_no > d.first_row"""
            )
        self.step("duplicates")

    # 4. the exact spatial join of what the grid left (runs after check)
    def locate(self) -> None:
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
        for layer, piece_table in self.layers:
            points, found = self.tables[f"{layer}_points"], self.tables[f"{layer}_of"]
            self.execute(
                f"""CREATE UNLOGGED TABLE {points} AS
                SELECT row_no, lon, lat FROM {self.checked} AS c
                WHERE {layer}_id IS NULL AND NOT present AND first_row IS NULL
                  AND {self.usable_sql()}"""
            )
            self.execute(f"CREATE INDEX ON {points} USING gist (({self.point_sql('')}))")
            self._locate(layer, piece_table, points, found)
            self.execute(
                f"""UPDATE {self.checked} AS c SET {layer}_id = f.{layer}_id
                FROM {found} AS f WHERE c.row_no = f.row_no"""
            )
        self.step("spatial join")

    @staticmethod
    def usable_sql(alias: str = "c") -> str:
        """lon and lat make a point on the globe (the only points a grid key is right for)."""
        return f"{alias}.lat BETWEEN -90 AND 90 AND {alias}.lon BETWEEN -180 AND 180"

    @staticmethod
    def point_sql(alias: str = "c") -> str:
        """The WGS84 point of a row with lon and lat columns (also the point index expression)."""
        p = f"{alias}." if alias else ""
        return f"ST_SetSRID(ST_MakePoint({p}lon, {p}lat), 4326)"

    def _locate(self, layer: str, piece_table: str, points: str, target: str) -> None:
        """target: row -> boundary id of the points that are in a boundary of the layer."""
        column = f"{layer}_id"
        # The pieces probe the points through a LATERAL subquery fenced by OFFSET 0, so that the
        # planner cannot flatten it and turn the join around (it would then probe the pieces
        # once per point when it underestimates the points).
        self.execute(
            f"""CREATE UNLOGGED TABLE {target} AS
            SELECT p.row_no, min(piece.{column}) AS {column},
                   min(piece.{column}) <> max(piece.{column}) AS ambiguous
            FROM {piece_table} AS piece
            CROSS JOIN LATERAL (
                SELECT pt.row_no FROM {points} AS pt
                WHERE ST_Intersects(piece.geom, {self.point_sql("pt")})
                OFFSET 0
            ) AS p
            GROUP BY p.row_no"""
        )
        self.execute(
            f"""UPDATE {target} AS t SET {column} = {layer}_join.{column}
            FROM {points} AS pt {boundary_join_sql(point_sql=self.point_sql("pt"))}
            WHERE t.ambiguous AND pt.row_no = t.row_no"""
        )
        self.execute(f"ANALYZE {target}")

    # 3. parse, look up, place by the interior grid
    def check(self) -> None:
        geometry_error = (  # COPY reads an empty field as NULL
            f"coalesce(s.{self.column['_geometry_error']}, '') <> ''"
            if "_geometry_error" in self.column
            else "false"
        )
        # Each layer's boundary where the point's interior grid cell gives it (see locate).
        place = {"branch": "NULL::bigint", "district": "NULL::bigint"}
        place_joins = []
        for layer, _ in self.layers:
            joins, owner = grid_join_sql(layer=layer, lon_sql="s.lon", lat_sql="s.lat", alias=layer)
            place[layer] = owner
            place_joins.append(joins)
        # Flat on purpose: every expensive expression appears once in the select list, and the
        # whole projection runs below the Gather, in parallel workers (a subquery would keep
        # its projection in the leader).
        self.execute(
            f"""CREATE UNLOGGED TABLE {self.checked} AS
            SELECT s.row_no, {self.col("external_id")} AS ext, {self.present} AS present,
                   NULL::bigint AS first_row, {geometry_error} AS geometry_error,
                   s.lon, s.lat, {place["branch"]} AS branch_id,
                   {place["district"]} AS district_id,
                   {_timestamp_sql(self.raw("created_at"), "cr")} AS created_at,
                   {self.col("closed_at")} IS NOT NULL AS closed_given,
                   {_timestamp_sql(self.raw("closed_at"), "cl")} AS closed_at,
                   -- COLLATE "C": codes are ASCII, and lower() in "C" skips the conversion to
                   -- wide characters and back that the database's C.UTF-8 locale takes.
                   lower({self.col("channel")} COLLATE "C") AS channel,
                   coalesce(lower({self.col("status")} COLLATE "C"), 'new') AS status,
                   coalesce(btrim({self.raw("description")}, E' \\t\\r\\n'), '') AS description,
                   cat.category_id, cat.subcategory_id, coalesce(cat.active, false)
                       AS category_active, cat.priority, cat.sla_hours
            FROM {self.stage} AS s
            {self.present_join}
            LEFT JOIN (
                -- A code resolved once: a subcategory stands for its parent category.
                SELECT c.code, coalesce(p.id, c.id) AS category_id,
                       CASE WHEN c.parent_id IS NOT NULL THEN c.id END AS subcategory_id,
                       c.active AND coalesce(p.active, true) AS active,
                       c.default_priority AS priority, c.sla_hours
                FROM reports_category AS c LEFT JOIN reports_category AS p ON p.id = c.parent_id
            ) AS cat ON cat.code = {self.col("category")}
            {" ".join(place_joins)}
            {_timestamp_lookup_joins(self.raw("created_at"), "cr")}
            {_timestamp_lookup_joins(self.raw("closed_at"), "cl")}""",
            self.params,
        )
        self.step("validate")

    def valid_sql(self, c: str = "c") -> str:
        """True for a checked row to be inserted. Never NULL: NOT valid holds for all others.

        Cheap column tests only, for it is evaluated for every row.
        """
        return f"""coalesce({c}.branch_id IS NOT NULL AND {c}.first_row IS NULL
            AND {self.usable_sql(c)}
            AND NOT {c}.present AND NOT {c}.geometry_error
            AND {c}.ext IS NOT NULL AND {_char_length_at_most(f"{c}.ext", EXTERNAL_ID_MAX_CHARS)}
            AND {c}.category_active
            AND {c}.channel = ANY(%(channels)s) AND {c}.status = ANY(%(statuses)s)
            AND {c}.created_at <= %(cutoff)s::timestamptz
            AND (NOT {c}.closed_given OR ({c}.status = ANY(%(closed_statuses)s)
                 AND {c}.closed_at BETWEEN {c}.created_at AND %(cutoff)s::timestamptz))
            AND {_char_length_at_most(f"{c}.description", "%(description_max)s")}, false)"""

    def reasons_sql(self, c: str = "c", s: str = "s") -> str:
        """Every fault of a row that fails valid_sql, as 'code: detail; code: detail'."""

        def text(name: str) -> str:
            return self.col(name, s)

        def quoted(name: str) -> str:
            return _quoted(text(name))

        coordinates = []
        for axis, limit in (("lat", 90), ("lon", 180)):
            coordinates.append(
                f"""CASE WHEN {text(axis)} IS NULL OR {c}.geometry_error
                        OR abs({c}.{axis}) <= {limit} THEN NULL
                    WHEN {text(axis)} ~* '{_NON_FINITE_RE}' THEN 'coordinates_not_finite: {axis} '
                        || {quoted(axis)} || ' is not a finite number'
                    WHEN {c}.{axis} IS NULL THEN 'coordinates_not_a_number: {axis} '
                        || {quoted(axis)} || ' is not a number'
                    ELSE 'coordinates_out_of_range: {axis} '
                        || {quoted(axis)} || ' is outside -{limit}..{limit}' END"""
            )
        faults = [
            f"""CASE WHEN {c}.ext IS NULL THEN 'external_id_missing: external_id is empty'
                WHEN length({c}.ext) > {EXTERNAL_ID_MAX_CHARS} THEN 'external_id_too_long: '
                    || length({c}.ext) || ' characters, at most {EXTERNAL_ID_MAX_CHARS}' END""",
            f"""CASE WHEN {c}.geometry_error THEN {s}.{self.column.get("_geometry_error", "")}
                END"""
            if "_geometry_error" in self.column
            else "NULL",
            f"""CASE WHEN NOT {c}.geometry_error
                    AND ({text("lat")} IS NULL OR {text("lon")} IS NULL)
                THEN 'coordinates_missing: ' || CASE WHEN {text("lat")} IS NULL
                    AND {text("lon")} IS NULL THEN 'lat and lon are empty'
                    WHEN {text("lat")} IS NULL THEN 'lat is empty' ELSE 'lon is empty' END END""",
            *coordinates,
            # A usable point that the spatial join placed nowhere (the duplicated and the
            # stored rows were not placed at all).
            f"""CASE WHEN {c}.branch_id IS NULL AND {c}.first_row IS NULL AND NOT {c}.present
                    AND abs({c}.lat) <= 90 AND abs({c}.lon) <= 180
                THEN 'outside_service_area: the point ' || {quoted("lon")} || ' '
                    || {quoted("lat")} || ' (lon lat) is in no branch municipality' END""",
            f"""CASE WHEN {c}.category_active THEN NULL
                WHEN {text("category")} IS NULL THEN 'category_missing: category is empty'
                WHEN {c}.category_id IS NULL THEN 'category_unknown: no category or '
                    || 'subcategory has the code ' || {quoted("category")}
                ELSE 'category_inactive: ' || {quoted("category")} || ' is no longer in use'
                END""",
            f"""CASE WHEN {c}.channel = ANY(%(channels)s) THEN NULL
                WHEN {c}.channel IS NULL THEN 'channel_missing: channel is empty'
                ELSE 'channel_invalid: ' || {quoted("channel")} || ' is not one of '
                    || %(channels_text)s END""",
            f"""CASE WHEN NOT {c}.status = ANY(%(statuses)s) THEN 'status_invalid: '
                || {quoted("status")} || ' is not one of ' || %(statuses_text)s END""",
            f"""CASE WHEN {c}.created_at <= %(cutoff)s::timestamptz THEN NULL
                WHEN {text("created_at")} IS NULL THEN 'created_at_missing: created_at is empty'
                WHEN {c}.created_at IS NULL THEN 'created_at_invalid: '
                    || {quoted("created_at")} || ' is not a date and time (ISO 8601, e.g. '
                    || '2024-03-01 08:15:00 or 2024-03-01T08:15:00+03:00)'
                ELSE 'created_at_in_future: ' || {quoted("created_at")}
                    || ' is later than the import' END""",
            f"""CASE WHEN NOT {c}.closed_given THEN NULL
                WHEN {c}.closed_at IS NULL THEN 'closed_at_invalid: '
                    || {quoted("closed_at")} || ' is not a date and time (ISO 8601)'
                WHEN {c}.status = ANY(%(statuses)s)
                    AND NOT {c}.status = ANY(%(closed_statuses)s)
                    THEN 'closed_at_not_allowed: a report with status ' || {c}.status
                    || ' has no closed_at (only ' || %(closed_text)s || ')'
                WHEN {c}.closed_at < {c}.created_at THEN 'closed_at_before_created_at: '
                    || {quoted("closed_at")} || ' is before created_at '
                    || {quoted("created_at")}
                WHEN {c}.closed_at > %(cutoff)s::timestamptz
                    THEN 'closed_at_in_future: ' || {quoted("closed_at")}
                    || ' is later than the import' END""",
            f"""CASE WHEN char_length({c}.description) > %(description_max)s
                THEN 'description_too_long: ' || char_length({c}.description)
                    || ' characters, at most ' || %(description_max)s END""",
        ]
        return f"""CASE WHEN {c}.first_row IS NOT NULL
                THEN 'external_id_duplicate_in_file: ' || {_quoted(f"{c}.ext")}
                    || ' is already on row ' || {c}.first_row
            ELSE concat_ws('; ', {", ".join(faults)}) END"""

    # 5. what happens to each row
    def count(self) -> None:
        """Count the outcomes; the rejected rows (few) get their reasons in a table of their own.

        inserted = read - already present - rejected, by construction: the insert takes exactly
        the rows that are neither.
        """
        self.execute(
            f"""CREATE UNLOGGED TABLE {self.rejected} AS
            SELECT c.row_no, {self.reasons_sql()} AS reason
            FROM {self.checked} AS c JOIN {self.stage} AS s ON s.row_no = c.row_no
            WHERE NOT (c.present AND c.first_row IS NULL) AND NOT {self.valid_sql()}""",
            self.params,
        )
        self.summary.read = self.rows
        # Rows already stored exist only when the table was compared with (see keys).
        self.summary.already_present = (
            self.scalar(f"SELECT count(*) FROM {self.checked} WHERE present AND first_row IS NULL")
            if self.present_join
            else 0
        )
        self.cursor.execute(
            f"SELECT split_part(reason, ':', 1), count(*) FROM {self.rejected} GROUP BY 1"
        )
        self.summary.rejected_by_reason = dict(self.cursor.fetchall())
        self.summary.inserted = (
            self.summary.read - self.summary.already_present - self.summary.rejected
        )
        self.step("count")

    # 6. rejects
    def write_rejects(self, path: Path) -> None:
        """The rejected rows in file order: their original columns, reason and row number."""
        originals = [name for name in self.column if name != "_geometry_error"]
        columns = ", ".join(f"s.{self.column[name]}" for name in originals)
        header = ",".join(_csv_field(name) for name in [*originals, "reason", "source_row"])
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(header + "\n")
            self.cursor.copy_expert(
                f"""COPY (
                    SELECT {columns}, r.reason, s.row_no
                    FROM {self.rejected} AS r JOIN {self.stage} AS s ON s.row_no = r.row_no
                    ORDER BY s.row_no
                ) TO STDOUT WITH (FORMAT csv, ENCODING 'UTF8')""",
                out,
            )
        self.summary.rejects_path = str(path)
        self.step("rejects")

    def drop_scratch(self) -> None:
        self.execute(f"DROP VIEW IF EXISTS {self.stage}")
        tables = [name for name in self.tables.values() if name != self.stage]
        self.execute(f"DROP TABLE IF EXISTS {', '.join([*tables, *self.parts.tables])}")


def _csv_field(name: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([name])
    return buffer.getvalue()


# --- the insert --------------------------------------------------------------------------------


def _insert(run: _Run, *, batch_id: int, rebuild: bool, primary_key: bool = False) -> int:
    """One INSERT ... SELECT of the valid rows; returns how many it inserted.

    rebuild: drop the secondary indexes and the foreign keys first and re-create them after
    (see _drop_secondary), with primary_key the primary key too; the caller holds the table
    locks that make this safe.

    A plain INSERT: the rows already stored were flagged during validation. Should a concurrent
    writer store one of the external_ids in between (only possible without the lock), the
    unique index refuses it; the insert is then rolled back to its savepoint and repeated with
    ON CONFLICT DO NOTHING, and the loser of the race counts as already present. Not ON
    CONFLICT from the start: its speculative insertion costs ~4 us a row, 40 % of the insert.
    """
    table = Report._meta.db_table
    indexes: list[str] = []
    foreign_keys: list[str] = []
    # id and tracking number: the columns' defaults (a nextval each), or for a big load the
    # row numbers of a block taken from each sequence at once.
    numbered, numbers = "", ""
    if rebuild:
        indexes, foreign_keys = _drop_secondary(run.cursor, table, primary_key=primary_key)
        first_id, first_number = _reserve_numbers(run)
        numbered = "id, tracking_number,"
        numbers = (
            f"{first_id} - 1 + c.row_no, "
            f"{TRACKING_NUMBER_FORMAT_FUNCTION}({first_number} - 1 + c.row_no),"
        )
        run.step("drop indexes")
    sql = f"""INSERT INTO {table} ({numbered}
            location, address, description, media_url, channel, status, priority,
            external_id, created_at, updated_at, closed_at, due_at,
            branch_id, district_id, category_id, subcategory_id, import_batch_id)
        SELECT {numbers} {run.point_sql()}, '', c.description, '', c.channel, c.status,
               c.priority,
               c.ext, c.created_at, now(), c.closed_at,
               c.created_at + make_interval(hours => c.sla_hours),
               c.branch_id, c.district_id, c.category_id, c.subcategory_id, %(batch)s
        FROM {run.checked} AS c
        WHERE {run.valid_sql()}"""
    if not rebuild:
        # Ids and tracking numbers from the columns' sequences, in file order as a big load's
        # (the parallel scans leave the checked rows in no particular order).
        sql += " ORDER BY c.row_no"
    params = run.params | {"batch": batch_id}
    if rebuild:
        run.execute(sql, params)
    else:
        try:
            with transaction.atomic():
                run.execute(sql, params)
        except IntegrityError:
            run.execute(
                sql + " ON CONFLICT (external_id) WHERE external_id IS NOT NULL DO NOTHING",
                params,
            )
    inserted = run.cursor.rowcount
    run.step("insert")
    if rebuild:
        for statement in indexes:
            run.execute(statement)
        run.step("rebuild indexes")
        # The check of the self-referencing duplicate_of key: without statistics the planner
        # takes every row for a reference and hashes the whole table for them (0.2-0.6 s a
        # million rows). A sample of 300 rows (2 ms) shows the column is nearly all NULL, and
        # the check reads its partial index instead. A column list, unlike a whole ANALYZE,
        # leaves the table's automatic ANALYZE due (PostgreSQL resets the count of changed rows
        # only for the whole table), which soon replaces these rough statistics.
        with run.setting(default_statistics_target="1"):
            run.execute(f"ANALYZE {table} (duplicate_of_id)")
        for statement in foreign_keys:
            run.execute(statement)
        run.step("re-check foreign keys")
    return inserted


def _reserve_numbers(run: _Run) -> tuple[int, int]:
    """Take a block of ids and of tracking numbers, one per staged row; returns the first of each.

    A row's numbers are then the first ones plus its row number (file order); the rows that are
    not inserted leave gaps, as any sequence does. 1M nextval calls cost ~1.3 s of the insert;
    this costs two statements. nextval then setval is not atomic, so this is only for the big
    load, which holds ACCESS EXCLUSIVE on the reports table: every other user of the two
    sequences is an INSERT into that table (their column defaults), and waits.
    """
    table = Report._meta.db_table
    rows = run.rows  # the highest row number: COPY numbered them 1..rows
    run.cursor.execute(
        """WITH taken AS (
            SELECT pg_get_serial_sequence(%(table)s, 'id') AS ids,
                   nextval(pg_get_serial_sequence(%(table)s, 'id')) AS first_id,
                   nextval(%(numbers)s) AS first_number)
        SELECT first_id, first_number,
               setval(ids, first_id + %(rows)s - 1),
               setval(%(numbers)s, first_number + %(rows)s - 1)
        FROM taken""",
        {"table": table, "numbers": TRACKING_NUMBER_SEQUENCE, "rows": rows},
    )
    first_id, first_number, _, _ = run.cursor.fetchone()
    return first_id, first_number


def _drop_secondary(cursor, table: str, *, primary_key: bool) -> tuple[list[str], list[str]]:
    """Drop the table's indexes but the primary key, and its foreign keys; return the statements
    that re-create them: (indexes and unique constraints, foreign keys, each checked in one
    query). With primary_key, the primary key too, and the other tables' foreign keys that
    point at it.

    Measured on 1M rows into the empty table (2 cores): maintaining the eight indexes and five
    foreign-key triggers row by row runs at ~30,000 rows/s (the triggers alone ~15 us a row);
    inserting with the primary key only and building each index once, sorted (GiST included,
    PostGIS sorts by a space-filling curve), then checking each foreign key with one anti-join,
    is about three times faster. That includes the unique indexes on tracking_number and
    external_id: kept, they cost ~2.0 s of the insert; rebuilt, ~1.4 s. Partial indexes stay
    (duplicate_of IS NOT NULL, idempotency_key IS NOT NULL): imported rows miss their predicate,
    so keeping them costs nothing while rebuilding one reads the whole table. The exception is
    the unique index on external_id, which every imported row enters.

    The primary key, kept, costs 2.5 of the 6.7 s that the insert of 1M rows takes on this
    2-core machine (a btree insertion and its WAL record a row, ~2.5 us); built after, sorted,
    0.45 s. Dropping it means dropping the foreign keys of the tables that refer to reports
    (events, contacts, assignments, ...) and checking each again after, one anti-join over
    that table, so reports_import does it only when those tables are small next to the load
    (_primary_key_rebuild_pays).

    ACCESS EXCLUSIVE on the table for the whole import (readers wait) is the price, which is why
    it is done only for loads big relative to the table (BULK_MIN_ROWS, REBUILD_RATIO). The
    unique checks still happen, at the rebuild: a duplicate would fail it and roll back all.
    """
    cursor.execute(
        """SELECT quote_ident(c.relname), pg_get_indexdef(i.indexrelid),
                  quote_ident(k.conname), pg_get_constraintdef(k.oid)
        FROM pg_index AS i
        JOIN pg_class AS c ON c.oid = i.indexrelid
        -- the constraint an index implements (a foreign key of the table to itself, like
        -- duplicate_of, has the primary key's index as conindid too)
        LEFT JOIN pg_constraint AS k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                                     AND k.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = %(table)s::regclass AND (%(primary_key)s OR NOT i.indisprimary)
          -- (indkey is an int2vector, indexed from 0: compared as an array it never equalled
          -- ARRAY[attnum], and the external_id index used to stay and be kept row by row)
          AND (i.indpred IS NULL OR (i.indisunique AND i.indnatts = 1 AND i.indkey[0] = (
                SELECT attnum FROM pg_attribute
                WHERE attrelid = %(table)s::regclass AND attname = 'external_id')))
          -- not an index a foreign key points at, but the primary key when asked for
          AND (i.indisprimary OR NOT EXISTS (SELECT 1 FROM pg_constraint AS f
                                             WHERE f.conindid = i.indexrelid AND f.contype = 'f'))
        -- the primary key first: the foreign keys that point at it come back after it
        ORDER BY i.indisprimary DESC, c.relname""",
        {"table": table, "primary_key": primary_key},
    )
    indexes = cursor.fetchall()
    cursor.execute(
        """SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname""",
        [table],
    )
    fks = [(table, name, definition) for name, definition in cursor.fetchall()]
    referring = _referring_foreign_keys(cursor, table) if primary_key else []
    for other, name, _ in referring:
        cursor.execute(f"ALTER TABLE {other} DROP CONSTRAINT {name}")
    drops = [f"DROP CONSTRAINT {name}" for _, name, _ in fks]
    drops += [f"DROP CONSTRAINT {con}" for _, _, con, _ in indexes if con]
    if drops:
        cursor.execute(f"ALTER TABLE {table} {', '.join(drops)}")
    plain = [name for name, _, con, _ in indexes if not con]
    if plain:
        cursor.execute(f"DROP INDEX {', '.join(plain)}")
    recreate = [
        f"ALTER TABLE {table} ADD CONSTRAINT {con} {condef}" if con else indexdef
        for _, indexdef, con, condef in indexes
    ]
    return recreate, [
        f"ALTER TABLE {owner} ADD CONSTRAINT {name} {definition}"
        for owner, name, definition in [*fks, *referring]
    ]


def _existing_rows(cursor, table: str | None = None) -> int:
    """The rows in a table (reports by default): the planner's estimate, or a count if it has
    none."""
    table = table or Report._meta.db_table
    cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
    existing = cursor.fetchone()[0]
    if existing < 0:  # never analysed: count (only a young table is never analysed)
        cursor.execute(f"SELECT count(*) FROM {table}")
        existing = cursor.fetchone()[0]
    return existing


def _referring_foreign_keys(cursor, table: str) -> list[tuple[str, str, str]]:
    """(table, constraint name, definition) of the other tables' foreign keys to `table`."""
    cursor.execute(
        """SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid)
        FROM pg_constraint
        WHERE confrelid = %(table)s::regclass AND conrelid <> %(table)s::regclass
          AND contype = 'f'
        ORDER BY 1, 2""",
        {"table": table},
    )
    return cursor.fetchall()


def _referring_tables(cursor) -> list[str]:
    """The other tables with a foreign key to the reports table's primary key."""
    return sorted({owner for owner, _, _ in _referring_foreign_keys(cursor, Report._meta.db_table)})


def _primary_key_rebuild_pays(cursor, *, rows: int, referring: list[str]) -> bool:
    """Whether a big load should rebuild the primary key too (see _drop_secondary): the rows
    whose foreign keys must then be checked again are at most the rows loaded (an anti-join
    costs less a row than keeping the primary key does)."""
    return sum(_existing_rows(cursor, name) for name in referring) <= rows


def _big_load(rows: int, existing: int) -> bool:
    return rows >= BULK_MIN_ROWS and rows >= existing * REBUILD_RATIO


# --- the service -------------------------------------------------------------------------------


def reports_import(
    *,
    path: Path | str,
    commit: bool,
    rejects_path: Path | str | None = None,
    actor_label: str,
    rebuild_indexes: bool | None = None,
) -> ImportSummary:
    """Import reports from a CSV or GeoJSON file; a dry run (nothing stored) unless commit.

    Every row read is inserted, already present (same external_id) or rejected with its
    reasons (written to rejects_path when given). rebuild_indexes: None decides by the size of
    the load relative to the table (see BULK_MIN_ROWS), True/False force it.
    """
    path = Path(path)
    source = _open_source(path)
    summary = ImportSummary(path=str(path), file_format=source.file_format)
    started = time.perf_counter()
    # Inside a caller's transaction, the SET LOCAL settings of the import would outlive it.
    nested = connection.in_atomic_block
    # The staging parts are committed tables, except inside a caller's transaction: dropped
    # when the import fails (see staging).
    staged = StagedParts(
        new_tag(), in_transaction=nested, sessions=settings.GEO_OPS_IMPORT_COPY_SESSIONS
    )
    with staged as parts, transaction.atomic(), connection.cursor() as cursor:
        run = _Run(cursor, source, summary, parts)
        run.load()
        rebuild = primary_key = False
        if commit:
            # A load big relative to the table rebuilds the indexes (see _drop_secondary), which
            # needs ACCESS EXCLUSIVE. Taken now, before anything is compared with the table, so
            # that "already present" stays true until the commit, and taken at once rather than
            # as a weaker lock upgraded later: an intake transaction that read the table and
            # then waits to insert would deadlock with the upgrade. Readers wait until the
            # commit: the price of the fast path, paid only for big loads.
            existing = _existing_rows(cursor)
            rows = run.rows
            rebuild = _big_load(rows, existing) if rebuild_indexes is None else rebuild_indexes
            if rebuild:
                # Rebuilding the primary key too drops the foreign keys of the tables that
                # refer to it: those are locked now as well, in the same statement.
                referring = _referring_tables(cursor)
                primary_key = _primary_key_rebuild_pays(cursor, rows=rows, referring=referring)
                locked = [Report._meta.db_table, *(referring if primary_key else [])]
                cursor.execute(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE")
        run.keys()
        run.check()
        run.duplicates()
        run.locate()
        run.count()
        if commit:
            batch = ImportBatch.objects.create(source=str(path)[:500], actor=actor_label[:200])
            # Decided again on what will really be inserted (a repeated file inserts nothing).
            if rebuild_indexes is None:
                rebuild = rebuild and _big_load(summary.inserted, existing)
            inserted = _insert(
                run, batch_id=batch.pk, rebuild=rebuild, primary_key=rebuild and primary_key
            )
            # Rows that lost a race with a concurrent insert of the same external_id.
            summary.already_present += summary.inserted - inserted
            summary.inserted = inserted
            summary.rebuilt_indexes = rebuild
            ImportBatch.objects.filter(pk=batch.pk).update(
                finished_at=Now(),
                rows_read=summary.read,
                rows_inserted=summary.inserted,
                rows_already_present=summary.already_present,
                rows_rejected=summary.rejected,
            )
            summary.batch_id = batch.pk
            summary.committed = True
        if rejects_path:
            run.write_rejects(Path(rejects_path))
        run.drop_scratch()
        parts.dropped = commit  # a dry run rolls the drop back (see StagedParts)
        if nested:
            run.restore_settings()
        if not commit:
            transaction.set_rollback(True)
    summary.seconds = time.perf_counter() - started
    summary.timings["commit"] = time.perf_counter() - run.mark
    return summary
