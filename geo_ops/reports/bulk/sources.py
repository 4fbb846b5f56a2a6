"""Step 1 of the bulk import, reading the file: its format, its header, and its rows as a binary
stream of CSV for COPY. A CSV file goes to COPY as it is; a GeoJSON document is converted to CSV
rows on the fly while COPY reads, format only (the validation is the import's SQL, `checks`).
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from geo_ops.db.staging import COPY_TOKENS

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
# The longest header line read (a first line without a line break is no CSV header).
HEADER_MAX_BYTES = 1 << 20


class ReportImportError(Exception):
    """The file cannot be imported at all (unreadable, missing columns, malformed structure)."""


@dataclass
class Source:
    """A file ready for COPY: its format, its column names, and a binary stream of CSV rows."""

    file_format: str
    header: list[str]
    stream: io.RawIOBase | io.BufferedReader
    delimiter: str = ","
    # A CSV file is read by COPY from the file itself, its data from byte data_start on (after
    # the header), so that it can be cut into parts; `stream` is then only the open file.
    path: Path | None = None
    data_start: int = 0


def open_source(path: Path) -> Source:
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


def _csv_source(path: Path, handle: io.BufferedReader) -> Source:
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
    return Source("csv", header, handle, delimiter, path=path, data_start=handle.tell())


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


def _geojson_source(path: Path, handle: io.BufferedReader) -> Source:
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
    return Source("geojson", header, CsvStream(_feature_rows(features)))


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


class CsvStream(io.RawIOBase):
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
        known, CRs too): see geo_ops.db.staging.copy_record_start.
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


def csv_field(name: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([name])
    return buffer.getvalue()
