"""COPY of a bulk load's file into staging tables, in parts loaded at once (the bulk import's
step 1, geo_ops.reports.bulk).

One COPY runs in one backend, which parses the whole CSV on one core: 2.6 of the 17.8 s that
the benchmark's million rows (140 MB) take on the 2-core machine. A CSV file is therefore cut
at record boundaries into one part per core (at most MAX_DEFAULT_SESSIONS, unless the caller
asks for another number: the import passes `GEO_OPS_IMPORT_COPY_SESSIONS`; parts of at least
PART_MIN_BYTES; fewer when the server refuses more connections), and each part goes into a
table of its own through a session of its own, all at the same time: the file loads in about
half the time. A GeoJSON file, converted to CSV rows by Python while COPY reads, and a small
CSV file make a single part.

Each part is made and loaded in one transaction of its session, so COPY can write its rows
already frozen (FREEZE: the import's scans then skip the visibility checks of a million fresh
rows). The import's own transaction can only read committed tables, so unlike its other scratch
tables the parts outlive a failure: `StagedParts` drops them when the import fails, and the
import's success drops them with its other scratch tables (`StagedParts.dropped`). An import that
dies without either (its process killed, its connection lost) leaves them behind; the next
import drops them. Every import holds an advisory lock on its tag, on the session that made its
first part, for as long as it runs; a part whose tag can be locked belongs to no running import.

An import inside a caller's transaction cannot use other sessions: their committed parts would
outlive a rollback of that transaction, which the import cannot see coming. It loads a single
part through its own connection, in that transaction (without FREEZE, which needs the table
made in the same subtransaction as the COPY and no earlier snapshot of it), and the part goes
or stays with the caller's work.
"""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
from django.db import connection, transaction

logger = logging.getLogger(__name__)

PART_PREFIX = "reports_import_part"
# Below this size a part's session costs more than the parallel parse saves (a connection and
# a thread, ~10 ms; COPY parses ~50 MB/s a core here).
PART_MIN_BYTES = 8 << 20
# The default number of COPY sessions is capped: past this a part's parse no longer dominates,
# and each session is a server connection.
MAX_DEFAULT_SESSIONS = 4
# Namespace of the imports' advisory locks (the other key is the import's tag).
_LOCK_CLASS = 0x67656F  # "geo"
_READ_BYTES = 1 << 20  # bytes per read of a COPY stream, and per chunk when counting quotes


def copy_sessions(configured: int = 0) -> int:
    """How many COPY sessions one import runs at most: `configured` when above 0 (the caller's
    setting), else one per core (capped)."""
    if configured > 0:
        return configured
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return min(MAX_DEFAULT_SESSIONS, len(cores) if cores else os.cpu_count() or 1)


def new_tag() -> str:
    """A random name suffix for one import's scratch tables; also its advisory-lock key."""
    return f"{secrets.randbits(31):08x}"


class CopyPartError(Exception):
    """COPY refused a part of the data.

    PostgreSQL names the line in the error's context ("COPY table, line 12: ..."), counted from
    its part's first line, and counting records rather than lines: see `copy_record_start`.
    file_line: the line of the file that this names (a file's data), else None;
    copy_line: PostgreSQL's own number (a stream's data, loaded as one part), else None.
    """

    def __init__(self, error: psycopg2.Error, *, file_line: int | None, copy_line: int | None):
        super().__init__(str(error))
        self.error = error
        self.file_line = file_line
        self.copy_line = copy_line


class _Stopped(Exception):
    """A part's stream stops: an earlier part failed, or the import was interrupted."""


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


class _Watched(io.RawIOBase):
    """A part's data as COPY reads it: stops when told to, and keeps what went wrong in a read.

    psycopg2 turns an exception raised inside read() into an error of the COPY itself
    (QueryCanceled: "error in .read() call"), which would pass for a broken file: the
    exception is kept here to be raised as it was (an OSError, a KeyboardInterrupt).
    """

    def __init__(self, stream: io.RawIOBase, stop: threading.Event):
        self._stream = stream
        self._stop = stop
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        try:
            if self._stop.is_set():
                raise _Stopped
            return self._stream.readinto(target)
        except BaseException as exc:
            self.error = exc
            raise

    def close(self) -> None:
        self._stream.close()
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
                if not chunk:
                    break
                quotes += chunk.count(b'"')
                position += len(chunk)
            while True:  # then on to the first newline outside quotes
                line = handle.readline()
                if not line:  # the end of the file (or of a file that shrank meanwhile)
                    position = end
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

    in_transaction: the import runs inside a caller's transaction; its one part is then made in
    that transaction, through the import's own connection (see the module's docstring).
    sessions: the most COPY sessions to load a file with (copy_sessions; 0: one per core).
    """

    def __init__(self, tag: str, *, in_transaction: bool, sessions: int = 0):
        self.tag = tag
        self.in_transaction = in_transaction
        self.sessions = sessions
        self.tables: list[str] = []
        self.rows: list[int] = []
        self.dropped = False
        self._owner = None

    def __enter__(self) -> StagedParts:
        if self.in_transaction:
            return self
        self._owner = _new_session()
        try:
            with self._owner.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_lock(%s, %s)", [_LOCK_CLASS, _lock_key(self.tag)]
                )
            self._owner.commit()
            drop_orphaned_parts(self._owner, running=self.tag)
        except BaseException:
            self._owner.close()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._owner is None:
            return  # the caller's transaction keeps or rolls back the part with the rest
        try:
            with contextlib.suppress(psycopg2.Error):  # a COPY of its that failed, say
                self._owner.rollback()
            if self.tables and (exc_type is not None or not self.dropped):
                _drop_tables(self._owner, self.tables, wait="2s")
        finally:
            self._owner.close()  # ends the session, and with it the advisory lock

    def copy(
        self,
        *,
        create_sql: Callable[[str], str],
        copy_sql: Callable[[str, bool], str],
        path: Path | None,
        start: int = 0,
        stream: io.RawIOBase | None = None,
    ) -> int:
        """COPY the data into the part tables; returns the rows loaded.

        Either a file (path, its data from byte `start` on), cut into parts when big enough, or
        a stream, loaded as one part. create_sql(table) makes an empty part table,
        copy_sql(table, freeze) is the COPY ... FROM STDIN into it (FREEZE when freeze).
        Raises CopyPartError for the first part in file order that COPY refused, or what a read
        of the data raised (an OSError, a KeyboardInterrupt) as it was.
        """
        end = path.stat().st_size if path is not None else 0
        sessions: list = []  # the helper sessions; the owner's stays open with the import
        streams: list[_Watched] = []
        try:  # whatever happens, every helper session and every stream is closed (twice: no harm)
            if not self.in_transaction:
                wanted = max(1, min(copy_sessions(self.sessions), (end - start) // PART_MIN_BYTES))
                sessions = [self._owner, *_helper_sessions(wanted - 1)]
            if path is None:
                ranges = [(0, 0)]
            elif len(sessions) > 1:
                ranges = record_ranges(path, start, len(sessions))
            else:
                ranges = [(start, end)]
            _close(sessions[len(ranges) :])  # the file had fewer records to cut between
            sessions = sessions[: len(ranges)]
            self.tables = [f"{PART_PREFIX}_{self.tag}_{k}" for k in range(1, len(ranges) + 1)]
            stops = [threading.Event() for _ in ranges]
            for (a, b), stop in zip(ranges, stops, strict=True):
                data = _ByteRange(path, a, b) if path is not None else stream
                streams.append(_Watched(data, stop))
            if self.in_transaction:
                results = [self._copy_here(create_sql, copy_sql, streams[0])]
            else:
                results = self._copy_at_once(create_sql, copy_sql, sessions, streams, stops)
        finally:
            _close(sessions[1:])
            for opened in streams:
                opened.close()
        for (part_start, part_end), result in zip(ranges, results, strict=True):
            if isinstance(result, psycopg2.Error):
                raise _part_error(result, path, part_start, part_end)
            if isinstance(result, BaseException):
                raise result  # what a read of the data raised (not a fault of the file's)
        self.rows = [int(r) for r in results]
        return sum(self.rows)

    def _copy_here(self, create_sql, copy_sql, stream: _Watched) -> int | BaseException:
        """The one part, in the caller's transaction (rolled back to a savepoint on failure)."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(create_sql(self.tables[0]))
                # copy_expert is psycopg2's own (Django wraps only execute): its error is raw.
                cursor.copy_expert(copy_sql(self.tables[0], False), stream, _READ_BYTES)
                return cursor.rowcount
        except psycopg2.Error as exc:
            return stream.error or exc

    def _copy_at_once(self, create_sql, copy_sql, sessions, streams, stops) -> list:
        """Each part by a session of its own, at the same time: rows loaded or the error.

        A part that fails stops the parts after it (their rows would be thrown away), not those
        before it: the error reported is the first in file order. copy() closes the sessions
        and the streams.
        """
        results: list[int | BaseException | None] = [None] * len(streams)

        def stop(parts: range) -> None:
            for k in parts:
                stops[k].set()
            _cancel([sessions[k] for k in parts])  # a COPY that has all its data already

        def load(k: int) -> None:
            session = sessions[k]
            try:
                if stops[k].is_set():
                    return
                # One transaction per part: COPY FREEZE needs the table made in it.
                with session.cursor() as cursor:
                    cursor.execute(create_sql(self.tables[k]))
                    cursor.copy_expert(copy_sql(self.tables[k], True), streams[k], _READ_BYTES)
                    results[k] = cursor.rowcount
                session.commit()
            except psycopg2.Error as exc:
                with contextlib.suppress(psycopg2.Error):  # the connection may be gone
                    session.rollback()
                results[k] = streams[k].error or exc
                stop(range(k + 1, len(streams)))
                if not isinstance(results[k], Exception):  # KeyboardInterrupt in a read
                    raise results[k] from None

        pool = ThreadPoolExecutor(max_workers=max(1, len(streams) - 1))
        try:
            # psycopg2 lets go of the GIL while libpq sends, so the parts really overlap.
            others = [pool.submit(load, k) for k in range(1, len(streams))]
            load(0)
            for future in others:
                future.result()
        except BaseException:  # Ctrl-C, say: the other parts stop too instead of loading on
            stop(range(1, len(streams)))
            raise
        finally:
            pool.shutdown(wait=True)
        return results

    def view_sql(self, name: str, columns: list[str]) -> str:
        """CREATE VIEW name: the parts in file order, row_no numbered across all of them."""
        listed = ", ".join(columns)
        selects, before = [], 0
        for table, rows in zip(self.tables, self.rows, strict=True):
            selects.append(f"SELECT row_no + {before} AS row_no, {listed} FROM {table}")
            before += rows
        return f"CREATE VIEW {name} AS {' UNION ALL '.join(selects)}"


def _helper_sessions(count: int) -> list:
    """Up to `count` more sessions: as many as the server lets the import open."""
    sessions = []
    for _ in range(count):
        try:
            sessions.append(_new_session())
        except psycopg2.OperationalError as exc:  # too many connections, say: fewer parts
            logger.warning("import COPY in %d parts, not %d: %s", len(sessions) + 1, count + 1, exc)
            break
    return sessions


def _cancel(sessions: list) -> None:
    for session in sessions:
        with contextlib.suppress(psycopg2.Error):
            session.cancel()


def _close(sessions: list) -> None:
    for session in sessions:
        session.close()


# --- where in the file ------------------------------------------------------------------------

# What COPY's CSV reader looks at to find where a record ends: quotes and line-break bytes.
COPY_TOKENS = re.compile(rb'["\r\n]')
_QUOTE, _CR, _LF = ord('"'), ord("\r"), ord("\n")
_NOT_BLANK = re.compile(rb"[^\r\n\t ]")


def _part_error(error: psycopg2.Error, path: Path | None, start: int, end: int) -> CopyPartError:
    """The error of the part start..end, with the file's line (the header's included) it names."""
    context = getattr(error.diag, "context", "") or ""
    where = re.search(r"line (\d+)", context)
    line = int(where.group(1)) if where else None
    if path is None or line is None:
        return CopyPartError(error, file_line=None, copy_line=line)
    offset = copy_record_start(path, start, end, line)
    return CopyPartError(
        error, file_line=None if offset is None else line_at(path, offset), copy_line=None
    )


def copy_record_start(path: Path, start: int, end: int, line: int) -> int | None:
    """Where the record begins on which COPY of bytes start..end of the file reports `line`.

    COPY's line number is not the file's: it counts one per record, plus each line break
    inside a quoted field that matches the line break of the data's first record (for a CRLF
    file a quoted LF is not counted, and within the first record only CRs are), as in
    PostgreSQL's CopyReadLineText. This replays that count (once, on an error) and returns the
    byte offset of the first record whose count spans `line`, or None past the end.
    """
    eol = None  # the data's line break, b"\n", b"\r\n" or b"\r", once its first record ended
    in_quote = False
    record, first, last = start, 1, 1  # the record's offset and its first and last line numbers
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        end = min(end, len(data))
        skip = -1
        for match in COPY_TOKENS.finditer(data, start, end):
            position = match.start()
            if position < skip:
                continue
            byte = data[position]
            if byte == _QUOTE:
                in_quote = not in_quote
            elif in_quote:
                if byte == (_LF if eol == b"\n" else _CR):
                    last += 1
            else:  # an unquoted line break: the record ends, or COPY stops on it with an error
                crlf = byte == _CR and data[position + 1 : position + 2] == b"\n"
                if crlf and eol in (None, b"\r\n"):
                    eol, after = b"\r\n", position + 2
                    skip = after
                elif byte == _CR and eol in (None, b"\r"):
                    eol, after = b"\r", position + 1
                elif byte == _LF and eol in (None, b"\n"):
                    eol, after = b"\n", position + 1
                else:  # a line break of another kind: COPY's error is on this record
                    return record
                if first <= line <= last:
                    return record
                record, first, last = after, last + 1, last + 1
    return record if first <= line <= last and record < end else None


def line_at(path: Path, offset: int) -> int:
    """The 1-based line of the file at byte offset (as an editor counts: CRLF, LF or CR)."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        breaks = _count(data, 0, offset, b"\n") + _count(data, 0, offset, b"\r")
        return breaks - _count(data, 0, offset, b"\r\n") + 1


def _count(data: mmap.mmap, start: int, end: int, needle: bytes) -> int:
    """Occurrences of needle (not overlapping itself) in data[start:end], read a MB at a time."""
    overlap = len(needle) - 1  # one that straddles two reads is counted in the first
    return sum(
        data[a : min(a + _READ_BYTES + overlap, end)].count(needle)
        for a in range(start, end, _READ_BYTES)
    )


def end_marker_line(path: Path, start: int) -> int | None:
    """The file's line holding COPY's end-of-data marker with data after it, or None.

    COPY's CSV reader takes a record of only `\\.` and a line break for the end of the data
    and quietly ignores the rest of its stream (a marker followed by blank lines only, or by
    nothing, loses nothing). A find over the file (~0.1 s for 140 MB) for the two bytes, then
    for the few hits the quote parity before them: whether they begin a record.
    """
    if path.stat().st_size <= start:
        return None
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        quotes, counted = 0, start
        position = data.find(b"\\.", start)
        while position != -1:
            begins_line = position == start or data[position - 1] in (_CR, _LF)
            ends_line = data[position + 2 : position + 3] in (b"\r", b"\n")
            after = position + (4 if data[position + 2 : position + 4] == b"\r\n" else 3)
            if begins_line and ends_line and _NOT_BLANK.search(data, after):
                quotes += _count(data, counted, position, b'"')
                counted = position
                if quotes % 2 == 0:  # outside quotes: a record of its own
                    return line_at(path, position)
            position = data.find(b"\\.", position + 2)
    return None


def _drop_tables(session, tables: list[str], *, wait: str) -> None:
    """Drop tables, waiting at most `wait` for their locks; else leave them to the next import."""
    try:
        with session.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{wait}'")
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")
        session.commit()
    except psycopg2.Error as exc:
        with contextlib.suppress(psycopg2.Error):  # the session may be gone
            session.rollback()
        logger.warning("import scratch tables %s left for the next import: %s", tables, exc)


def drop_orphaned_parts(session, *, running: str) -> None:
    """Drop the part tables of imports that no longer run (their tag's lock is free).

    running: the tag of the import that asks (the lock is re-entrant, so its own would look
    free). A part table that a session has dropped without committing yet (a running import's
    own transaction, at its end) is left alone: that session holds a lock on it.
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
