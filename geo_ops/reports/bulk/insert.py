"""Step 4 of the bulk import: one INSERT ... SELECT of the valid rows; for a load big relative
to the table, with its ids and tracking numbers reserved in a block and the secondary indexes
and foreign keys dropped first and re-created after (the measurements are in _drop_secondary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from ..models import TRACKING_NUMBER_FORMAT_FUNCTION, TRACKING_NUMBER_SEQUENCE, Report
from .checks import valid_sql
from .locate import point_sql

if TYPE_CHECKING:
    from .run import ImportRun

# The load is "big relative to the table" when it brings at least BULK_MIN_ROWS rows and at
# least REBUILD_RATIO times the rows already stored; then the indexes and foreign keys are
# re-created rather than maintained row by row (_drop_secondary). Row by row costs ~30 us per
# new row, a rebuild ~5-6 us per row of the whole table, so the break-even is near a load of a
# quarter of the table; 0.5 stays on the safe side because a rebuild also keeps readers waiting.
BULK_MIN_ROWS = 10_000
REBUILD_RATIO = 0.5


def insert_rows(run: ImportRun, *, batch_id: int, rebuild: bool, primary_key: bool = False) -> int:
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
        SELECT {numbers} {point_sql()}, '', c.description, '', c.channel, c.status,
               c.priority,
               c.ext, c.created_at, now(), c.closed_at,
               c.created_at + make_interval(hours => c.sla_hours),
               c.branch_id, c.district_id, c.category_id, c.subcategory_id, %(batch)s
        FROM {run.checked} AS c
        WHERE {valid_sql()}"""
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


def _reserve_numbers(run: ImportRun) -> tuple[int, int]:
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
    (primary_key_rebuild_pays).

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


def existing_rows(cursor, table: str | None = None) -> int:
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


def referring_tables(cursor) -> list[str]:
    """The other tables with a foreign key to the reports table's primary key."""
    return sorted({owner for owner, _, _ in _referring_foreign_keys(cursor, Report._meta.db_table)})


def primary_key_rebuild_pays(cursor, *, rows: int, referring: list[str]) -> bool:
    """Whether a big load should rebuild the primary key too (see _drop_secondary): the rows
    whose foreign keys must then be checked again are at most the rows loaded (an anti-join
    costs less a row than keeping the primary key does)."""
    return sum(existing_rows(cursor, name) for name in referring) <= rows


def big_load(rows: int, existing: int) -> bool:
    return rows >= BULK_MIN_ROWS and rows >= existing * REBUILD_RATIO
