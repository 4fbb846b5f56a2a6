"""Bulk import of citizen reports from CSV or GeoJSON, set-based from end to end.

`reports_import()` runs in one transaction, so a failure anywhere leaves no half-written rows
(nor scratch tables: the staging parts, committed by sessions of their own unless the import
runs inside a caller's transaction, are dropped as well, or by the next import if this one's
process dies; see geo_ops.db.staging). The rows never pass through a Python loop:

1. COPY the file into UNLOGGED staging tables of text columns. A CSV goes to COPY as it is
   (PostgreSQL's CSV parser reads the rows), a big one cut into parts that load at the same
   time (geo_ops.db.staging); a GeoJSON FeatureCollection is converted to CSV rows on the fly while
   COPY reads, format only (the document itself is parsed in memory with the json module, fine
   for files of a few hundred MB; larger ones should come as CSV).
2. One flat CREATE TABLE AS parses and looks up every row in parallel workers: regex-guarded
   casts that cannot raise, so one bad value cannot abort the import; category or subcategory;
   duplicates within the file; rows already stored; and the branch (and district) of every
   point whose grid cell lies wholly inside one (`layers.selectors.grid_join_sql`), a hash join
   on the cell key without any geometry test.
3. The spatial join of the rest (near a boundary or outside, a few percent): their points go
   into a narrow table with a GiST index, and each subdivided boundary piece finds its points
   (`locate`, which says why not one LATERAL probe per point). Points on a shared edge get
   the tie-break of layers.selectors. Whether a row is valid is then a cheap predicate over the
   checked table, and the reasons are spelled out only for the rows that fail it, every fault
   of a row in its `reason`.
4. One INSERT ... SELECT of the valid rows (with commit). A load big relative to the table
   drops the secondary indexes and the foreign keys first and re-creates them after
   (`insert`, with the measurements).
5. The rejected rows go to the rejects file: their original columns, `reason`, `source_row`.

One module a concern: `sources` reads the file (1), `run` holds the import's transaction, its
scratch tables and settings (1, 5), `checks` the validation with the rules intake shares
(2, geo_ops.reports.rules) over `parsing`'s never-failing casts, `locate` the spatial join (3),
`insert` the insert and the index rebuild (4); this module runs them in order.

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

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from geo_ops.db.staging import StagedParts, new_tag

from ..models import ImportBatch, Report
from .checks import check, duplicates
from .insert import (
    big_load,
    existing_rows,
    insert_rows,
    primary_key_rebuild_pays,
    referring_tables,
)
from .locate import locate
from .run import ImportRun
from .sources import COLUMNS, ReportImportError, open_source

__all__ = ["COLUMNS", "ImportSummary", "ReportImportError", "reports_import"]


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
    source = open_source(path)
    summary = ImportSummary(path=str(path), file_format=source.file_format)
    started = time.perf_counter()
    # Inside a caller's transaction, the SET LOCAL settings of the import would outlive it.
    nested = connection.in_atomic_block
    # The staging parts are committed tables, except inside a caller's transaction: dropped
    # when the import fails (see geo_ops.db.staging).
    staged = StagedParts(
        new_tag(), in_transaction=nested, sessions=settings.GEO_OPS_IMPORT_COPY_SESSIONS
    )
    with staged as parts, transaction.atomic(), connection.cursor() as cursor:
        run = ImportRun(cursor, source, summary, parts)
        run.load()
        rebuild = primary_key = False
        if commit:
            rebuild, primary_key, existing = _lock_for_rebuild(
                cursor, rows=run.rows, rebuild_indexes=rebuild_indexes
            )
        run.keys()
        check(run)
        duplicates(run)
        locate(run)
        run.count()
        if commit:
            # Decided again on what will really be inserted (a repeated file inserts nothing).
            if rebuild_indexes is None:
                rebuild = rebuild and big_load(summary.inserted, existing)
            _store(
                run, path=path, actor_label=actor_label, rebuild=rebuild, primary_key=primary_key
            )
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


def _lock_for_rebuild(cursor, *, rows: int, rebuild_indexes: bool | None) -> tuple[bool, bool, int]:
    """(rebuild, primary_key, existing): whether a committed load rebuilds the indexes (and the
    primary key too), and the rows the table holds; what a rebuild changes is locked now.

    A load big relative to the table rebuilds the indexes (see insert._drop_secondary), which
    needs ACCESS EXCLUSIVE. Taken before anything is compared with the table, so that "already
    present" stays true until the commit, and taken at once rather than as a weaker lock
    upgraded later: an intake transaction that read the table and then waits to insert would
    deadlock with the upgrade. Readers wait until the commit: the price of the fast path, paid
    only for big loads.
    """
    existing = existing_rows(cursor)
    rebuild = big_load(rows, existing) if rebuild_indexes is None else rebuild_indexes
    primary_key = False
    if rebuild:
        # Rebuilding the primary key too drops the foreign keys of the tables that refer to it:
        # those are locked now as well, in the same statement.
        referring = referring_tables(cursor)
        primary_key = primary_key_rebuild_pays(cursor, rows=rows, referring=referring)
        locked = [Report._meta.db_table, *(referring if primary_key else [])]
        cursor.execute(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE")
    return rebuild, primary_key, existing


def _store(
    run: ImportRun, *, path: Path, actor_label: str, rebuild: bool, primary_key: bool
) -> None:
    """The insert with the ImportBatch that is its audit record; the summary then counts what
    was really inserted."""
    summary = run.summary
    batch = ImportBatch.objects.create(source=str(path)[:500], actor=actor_label[:200])
    inserted = insert_rows(
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
