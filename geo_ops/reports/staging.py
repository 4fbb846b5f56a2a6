"""Step 1 of the bulk import: COPY of the file into staging tables, in parts loaded at once.

One COPY runs in one backend, which parses the whole CSV on one core: 2.6 of the 17.8 s that
the benchmark's million rows (140 MB) take on the 2-core machine. A CSV file is therefore cut
at record boundaries into one part per core (`GEO_OPS_IMPORT_COPY_SESSIONS`, parts of at least
PART_MIN_BYTES), and each part goes into a table of its own through a session of its own, all
at the same time: the file loads in about half the time. A GeoJSON file, converted to CSV rows
by Python while COPY reads, and a small CSV file make a single part.

Each part is made and loaded in one transaction of its session, so COPY can write its rows
already frozen (FREEZE: the import's scans then skip the visibility checks of a million fresh
rows). The import's own transaction can only read committed tables, so unlike its other scratch
tables the parts outlive a failure: `StagedParts` drops them when the import fails, and the
import's success drops them with its other scratch tables (`_Run.drop_scratch`). An import that
dies without either (its process killed, its connection lost) leaves them behind; the next
import drops them. Every import holds an advisory lock on its tag, on the session that made its
first part, for as long as it runs; a part whose tag can be locked belongs to no running import.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

PART_PREFIX = "reports_import_part"
# Below this size a part's session costs more than the parallel parse saves (a connection and
# a thread, ~10 ms; COPY parses ~50 MB/s a core here).
PART_MIN_BYTES = 8 << 20
# Namespace of the imports' advisory locks (the other key is the import's tag).
_LOCK_CLASS = 0x67656F  # "geo"
_READ_BYTES = 1 << 20  # bytes per read of a COPY stream, and per chunk when counting quotes


def copy_sessions() -> int:
    """How many COPY sessions one import runs at most: the setting, else one per core."""
    if settings.GEO_OPS_IMPORT_COPY_SESSIONS > 0:
        return settings.GEO_OPS_IMPORT_COPY_SESSIONS
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return len(cores) if cores else os.cpu_count() or 1


def new_tag() -> str:
    """A random name suffix for one import's scratch tables; also its advisory-lock key."""
    return f"{secrets.randbits(31):08x}"


class CopyPartError(Exception):
    """COPY refused a part of the file; `line_offset` is that part's first line - 1 in the data."""

    def __init__(self, error: psycopg2.Error, line_offset: int):
        super().__init__(str(error))
        self.error = error
        self.line_offset = line_offset


class _ByteRange(io.RawIOBase):
    """A readable stream of bytes start..end of a file."""

    def __init__(self, path: Path, start: int, end: int):
        self._file = path.open("rb")
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        size = min(len(target), self._left)
        if size <= 0:
            return 0
        read = self._file.readinto(memoryview(target)[:size])
        self._left -= read
        return read

    def close(self) -> None:
        self._file.close()
        super().close()


def record_ranges(path: Path, start: int, parts: int) -> list[tuple[int, int]]:
    """Byte ranges start..end of file that split its CSV records into at most `parts` runs.

    A cut goes after the first newline past each equal share of the bytes at which the number
    of quote characters so far is even: that newline ends a record, for PostgreSQL's CSV parser
    toggles "inside quotes" at every quote character (a doubled quote, its escape, toggles
    twice). A newline inside a quoted description is thus never a cut. A file whose quotes
    never balance again (an unterminated field) gets no cut past that point, and COPY reports
    the broken field as it would for the whole file.
    """
    end = path.stat().st_size
    targets = [start + (end - start) * k // parts for k in range(1, parts)]
    cuts: list[int] = []
    quotes = 0  # quote characters in start..position
    with path.open("rb") as handle:
        handle.seek(start)
        position = start
        for target in targets:
            while position < target:  # count the quotes up to the share's end
                chunk = handle.read(min(_READ_BYTES, target - position))
                quotes += chunk.count(b'"')
                position += len(chunk)
            while True:  # then on to the first newline outside quotes
                line = handle.readline()
                if not line:
                    break
                quotes += line.count(b'"')
                position += len(line)
                if line.endswith(b"\n") and quotes % 2 == 0:
                    break
            if position >= end:
                break
            cuts.append(position)
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a] or [(start, end)]


def _new_session():
    """A session of the import's own database (the test database under tests), not autocommit."""
    return connection.get_new_connection(connection.get_connection_params())


def _lock_key(tag: str) -> int:
    return int(tag, 16)


class StagedParts:
    """The part tables of one import: loaded by `copy`, dropped on leaving by an exception.

    Use as a context manager around the import's transaction, which drops the parts with its
    other scratch tables and sets `dropped` when that drop is to be committed. Otherwise (a dry
    run, a failure) the parts are dropped on leaving, after that transaction (or savepoint) has
    rolled back, when nothing holds them any more.
    """

    def __init__(self, tag: str):
        self.tag = tag
        self.tables: list[str] = []
        self.rows: list[int] = []
        self.dropped = False
        self._owner = None

    def __enter__(self) -> StagedParts:
        self._owner = _new_session()
        with self._owner.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, _lock_key(self.tag)])
        self._owner.commit()
        drop_orphaned_parts(self._owner, running=self.tag)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if self.tables and (exc_type is not None or not self.dropped):
                _drop_tables(self._owner, self.tables, wait="2s")
        finally:
            self._owner.close()  # ends the session, and with it the advisory lock

    def copy(
        self,
        *,
        create_sql: Callable[[str], str],
        copy_sql: Callable[[str], str],
        path: Path | None,
        start: int = 0,
        stream: io.RawIOBase | None = None,
    ) -> int:
        """COPY the data into the part tables; returns the rows loaded.

        Either a file (path, its data from byte `start` on), cut into parts when big enough, or
        a stream, loaded as one part. create_sql(table) makes an empty part table,
        copy_sql(table) is the COPY ... FROM STDIN into it. Raises CopyPartError for the first
        part in file order that COPY refused.
        """
        if path is not None:
            size = path.stat().st_size - start
            parts = max(1, min(copy_sessions(), size // PART_MIN_BYTES))
            ranges = record_ranges(path, start, parts) if parts > 1 else [(start, start + size)]
            streams = [_ByteRange(path, a, b) for a, b in ranges]
        else:
            ranges, streams = [(0, 0)], [stream]
        self.tables = [f"{PART_PREFIX}_{self.tag}_{k}" for k in range(1, len(streams) + 1)]
        sessions = [self._owner] + [_new_session() for _ in streams[1:]]
        results: list[int | psycopg2.Error | None] = [None] * len(streams)

        def load(k: int) -> None:
            session = sessions[k]
            if any(isinstance(r, psycopg2.Error) for r in results[:k]):
                streams[k].close()
                return  # an earlier part failed: this one's rows would be thrown away
            try:
                # One transaction per part: COPY FREEZE needs the table made in it.
                with session.cursor() as cursor:
                    cursor.execute(create_sql(self.tables[k]))
                    cursor.copy_expert(copy_sql(self.tables[k]), streams[k], _READ_BYTES)
                    results[k] = cursor.rowcount
                session.commit()
            except psycopg2.Error as exc:
                session.rollback()
                results[k] = exc
                for later in sessions[k + 1 :]:  # their rows would be thrown away anyway
                    later.cancel()
            finally:
                streams[k].close()

        try:
            with ThreadPoolExecutor(max_workers=max(1, len(streams) - 1)) as pool:
                # psycopg2 lets go of the GIL while libpq sends, so the parts really overlap.
                others = [pool.submit(load, k) for k in range(1, len(streams))]
                load(0)
                for future in others:
                    future.result()
        finally:
            for session in sessions[1:]:
                session.close()
        for k, result in enumerate(results):
            if isinstance(result, psycopg2.Error):
                offset = _lines_before(path, start, ranges[k][0]) if path is not None else 0
                raise CopyPartError(result, offset)
        self.rows = [int(r) for r in results]
        return sum(self.rows)

    def view_sql(self, name: str, columns: list[str]) -> str:
        """CREATE VIEW name: the parts in file order, row_no numbered across all of them."""
        listed = ", ".join(columns)
        selects, before = [], 0
        for table, rows in zip(self.tables, self.rows, strict=True):
            selects.append(f"SELECT row_no + {before} AS row_no, {listed} FROM {table}")
            before += rows
        return f"CREATE VIEW {name} AS {' UNION ALL '.join(selects)}"


def _lines_before(path: Path, start: int, position: int) -> int:
    """Newlines in bytes start..position of the file (COPY counts lines, not records)."""
    count = 0
    with _ByteRange(path, start, position) as stream:
        while chunk := stream.read(_READ_BYTES):
            count += chunk.count(b"\n")
    return count


def _drop_tables(session, tables: list[str], *, wait: str) -> None:
    """Drop tables, waiting at most `wait` for their locks; else leave them to the next import."""
    try:
        with session.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{wait}'")
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")
        session.commit()
    except psycopg2.Error as exc:
        with contextlib.suppress(psycopg2.Error):  # the session may be gone
            session.rollback()
        logger.warning("import scratch tables %s left for the next import: %s", tables, exc)


def drop_orphaned_parts(session, *, running: str) -> None:
    """Drop the part tables of imports that no longer run (their tag's lock is free).

    running: the tag of the import that asks (the lock is re-entrant, so its own would look
    free). A part table that a session has dropped without committing yet (an import inside a
    caller's transaction) is left alone: that session holds a lock on it.
    """
    with session.cursor() as cursor:
        # Not the tables some session holds a lock on (a drop waiting for its commit).
        cursor.execute(
            """SELECT relname FROM pg_class AS c WHERE relkind = 'r' AND relname ~ %s
                AND NOT EXISTS (SELECT 1 FROM pg_locks AS l WHERE l.relation = c.oid)""",
            [f"^{PART_PREFIX}_[0-9a-f]{{8}}_[0-9]+$"],
        )
        by_tag: dict[str, list[str]] = {}
        for (table,) in cursor.fetchall():
            tag = table[len(PART_PREFIX) + 1 :][:8]
            if tag != running:
                by_tag.setdefault(tag, []).append(table)
    session.commit()
    for tag, tables in by_tag.items():
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, _lock_key(tag)])
            (free,) = cursor.fetchone()
        session.commit()
        if not free:
            continue  # a running import's
        _drop_tables(session, tables, wait="100ms")
        with session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, _lock_key(tag)])
        session.commit()
