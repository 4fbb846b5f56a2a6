"""One bulk import inside its transaction: its scratch tables and settings, the COPY of the file
(step 1 of the package's list), the outcome of every row and the rejects file (step 5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from geo_ops.db.staging import CopyPartError, StagedParts, end_marker_line

from ..models import Report
from . import checks
from .parsing import number_sql
from .sources import CsvStream, ReportImportError, Source, csv_field

if TYPE_CHECKING:
    from . import ImportSummary

logger = logging.getLogger(__name__)

# Memory for the import transaction only (SET LOCAL): the hash joins and aggregations of a
# million rows stay in memory, index builds sort in one pass.
WORK_MEM = "256MB"
MAINTENANCE_WORK_MEM = "1GB"


class ImportRun:
    """One import inside its transaction: the scratch tables, the SQL, the timings of each step.

    Scratch tables, in the order they are made:
      stage      the file as text, one row per record, numbered in file order, with lon and
                 lat parsed: a view over the committed part tables (geo_ops.db.staging)
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
    Whether a checked row is valid is a cheap predicate over its columns (`checks.valid_sql`);
    its reasons are spelled out only for the rows that fail it (`checks.reasons_sql`).
    """

    def __init__(self, cursor, source: Source, summary: ImportSummary, parts: StagedParts):
        self.cursor = cursor
        self.source = source
        self.summary = summary
        self.parts = parts
        tag = parts.tag
        # Regular UNLOGGED tables rather than TEMP ones: parallel workers cannot read temporary
        # tables, and temp buffers are small. Created and dropped inside the transaction, so a
        # failed import leaves none behind and concurrent imports never see each other's (the
        # staging parts are made outside it: see geo_ops.db.staging).
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
        self.params = checks.params()
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
            # Texts without an offset are local times (see parsing.timestamp_sql). Django reads
            # timestamps assuming a UTC session, hence the restore.
            "TimeZone": settings.TIME_ZONE,
        }
        self.cursor.execute(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in self.settings)
        )
        self.saved_settings = dict(zip(self.settings, self.cursor.fetchone(), strict=True))
        self._set(self.settings)
        self.params["cutoff"] = self.scalar(checks.cutoff_sql())

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
        lon, lat = (number_sql(self.column[name]) for name in ("lon", "lat"))
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
            elif exc.copy_line and isinstance(self.source.stream, CsvStream):
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

    # 2. (before checks.check) rows already stored, layers
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

    # 4. (before the insert) what happens to each row
    def count(self) -> None:
        """Count the outcomes; the rejected rows (few) get their reasons in a table of their own.

        inserted = read - already present - rejected, by construction: the insert takes exactly
        the rows that are neither.
        """
        self.execute(
            f"""CREATE UNLOGGED TABLE {self.rejected} AS
            SELECT c.row_no, {checks.reasons_sql(self)} AS reason
            FROM {self.checked} AS c JOIN {self.stage} AS s ON s.row_no = c.row_no
            WHERE NOT (c.present AND c.first_row IS NULL) AND NOT {checks.valid_sql()}""",
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

    # 5. rejects
    def write_rejects(self, path: Path) -> None:
        """The rejected rows in file order: their original columns, reason and row number."""
        originals = [name for name in self.column if name != "_geometry_error"]
        columns = ", ".join(f"s.{self.column[name]}" for name in originals)
        header = ",".join(csv_field(name) for name in [*originals, "reason", "source_row"])
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
