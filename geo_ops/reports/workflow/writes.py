"""The workflow's SQL: the only statements that write a report's status or its audit trail.

Raw SQL because the ORM cannot chain data-modifying CTEs; prepared statements because intake
runs them on every report (geo_ops/reports/selectors.py, PreparedStatement). Times are
statement_timestamp(), as Django's Now() is on PostgreSQL (now() is the transaction's start):
the audit trail keeps the order of the statements, and of the events within one.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from geo_ops.db.prepared import PreparedStatement

from ..choices import OPEN_STATUSES, EventKind, Priority
from ..models import Report
from .transitions import CLOSING_STATUSES, WorkflowError


@dataclass
class Event:
    """One audit event to write; `report_id` may be left to the function that writes it."""

    kind: str
    actor_label: str
    note: str = ""
    public: bool = False
    data: dict = field(default_factory=dict)
    actor: object = None
    from_status: str = ""
    to_status: str = ""
    report_id: int | None = None


@dataclass(frozen=True)
class Row:
    """What one report's row gets: a status (None keeps it; from_status None skips the guard),
    a due time, an original it duplicates."""

    report_id: int
    from_status: str | None = None
    to_status: str | None = None
    due_at: datetime | None = None
    duplicate_of_id: int | None = None


def _sql_list(values) -> str:
    return ", ".join(f"'{value}'" for value in values)


# The events as parallel arrays (event_columns), written in their order: the part both
# statements share. `report_id` is the events' own array or the new report's id.
EVENT_TYPES = {
    "e_actor": "bigint[]",
    "e_label": "text[]",
    "e_kind": "text[]",
    "e_from": "text[]",
    "e_to": "text[]",
    "e_note": "text[]",
    "e_public": "boolean[]",
    "e_data": "text[]",
}


def _events_insert_sql(*, report_id: str, source: str, arrays: str, names: str) -> str:
    return f"""
        INSERT INTO reports_reportevent
            (report_id, created_at, actor_id, actor_label, kind, from_status, to_status, note,
             public, data)
        SELECT {report_id}, statement_timestamp(), e.actor_id, e.actor_label, e.kind,
               e.from_status, e.to_status, e.note, e.public, e.data::jsonb
        FROM {source}unnest({arrays}{", ".join(f"%({a})s" for a in EVENT_TYPES)})
            WITH ORDINALITY
            AS e({names}actor_id, actor_label, kind, from_status, to_status, note, public,
                 data, n)
        ORDER BY e.n"""


# Any number of row changes and events in one round trip. The status is guarded by the status
# the caller locked: a report changed meanwhile makes the UPDATE match fewer rows, and `apply`
# raises (the caller's transaction then rolls back, events included).
APPLY_STATEMENT = PreparedStatement(
    "geo_ops_workflow_apply",
    f"""
    WITH change AS (
        SELECT * FROM unnest(%(ids)s, %(froms)s, %(tos)s, %(dues)s, %(originals)s)
            AS c(id, from_status, to_status, due_at, duplicate_of_id)
    ),
    changed AS (
        UPDATE reports_report AS r
        SET status = COALESCE(c.to_status, r.status),
            updated_at = statement_timestamp(),
            closed_at = CASE
                WHEN c.to_status IN ({_sql_list(CLOSING_STATUSES)}) THEN statement_timestamp()
                WHEN c.to_status IN ({_sql_list(OPEN_STATUSES)}) THEN NULL
                ELSE r.closed_at END,
            due_at = COALESCE(c.due_at, r.due_at),
            duplicate_of_id = COALESCE(c.duplicate_of_id, r.duplicate_of_id)
        FROM change AS c
        WHERE r.id = c.id AND (c.from_status IS NULL OR r.status = c.from_status)
        RETURNING r.id
    ),
    events AS ({
        _events_insert_sql(
            report_id="e.report_id", source="", arrays="%(e_report)s, ", names="report_id, "
        )
    }
        RETURNING id
    )
    SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM events)
    """,
    {
        "ids": "bigint[]",
        "froms": "text[]",
        "tos": "text[]",
        "dues": "timestamptz[]",
        "originals": "bigint[]",
        "e_report": "bigint[]",
        **EVENT_TYPES,
    },
)


def _actor_id(actor) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def event_columns(events: Sequence[Event]) -> dict[str, list]:
    """The events as the statements' parallel arrays, in order."""
    return {
        "e_report": [e.report_id for e in events],
        "e_actor": [_actor_id(e.actor) for e in events],
        "e_label": [e.actor_label[:200] for e in events],
        "e_kind": [str(e.kind) for e in events],
        "e_from": [str(e.from_status) for e in events],
        "e_to": [str(e.to_status) for e in events],
        "e_note": [e.note for e in events],
        "e_public": [e.public for e in events],
        "e_data": [json.dumps(e.data) for e in events],
    }


def apply(*, rows: Sequence[Row], events: Sequence[Event]) -> None:
    """Write `rows` and `events` in one statement, or raise a WorkflowError (conflict) when a
    row's report no longer has the status the caller saw."""
    params = {
        "ids": [r.report_id for r in rows],
        "froms": [None if r.from_status is None else str(r.from_status) for r in rows],
        "tos": [None if r.to_status is None else str(r.to_status) for r in rows],
        "dues": [r.due_at for r in rows],
        "originals": [r.duplicate_of_id for r in rows],
    }
    with connection.cursor() as cursor:
        APPLY_STATEMENT.execute(cursor, params | event_columns(events))
        changed, _written = cursor.fetchone()
    if changed != len(rows):
        raise WorkflowError(
            "The report was changed by someone else meanwhile; try again.", code="conflict"
        )


# A new report with its first events in one round trip (intake's latency budget,
# bench/live_intake.py). The columns left out take their defaults, as in the ORM's INSERT:
# NULL, or the database default (the tracking number).
INSERT_STATEMENT = PreparedStatement(
    "geo_ops_workflow_insert",
    f"""
    WITH report AS (
        INSERT INTO reports_report
            (category_id, subcategory_id, location, address, description, media_url, channel,
             status, priority, branch_id, district_id, idempotency_key, created_at, updated_at,
             duplicate_of_id, duplicate_count)
        VALUES (%(category)s, %(subcategory)s, %(location)s, %(address)s, %(description)s,
                %(media_url)s, %(channel)s, %(status)s, %(priority)s, %(branch)s, %(district)s,
                %(idempotency_key)s, %(created_at)s, %(updated_at)s, %(duplicate_of)s,
                %(duplicate_count)s)
        RETURNING id, tracking_number
    ),
    events AS ({_events_insert_sql(report_id="report.id", source="report, ", arrays="", names="")})
    SELECT id, tracking_number FROM report
    """,
    {
        "category": "bigint",
        "subcategory": "bigint",
        "location": "geometry",
        "address": "text",
        "description": "text",
        "media_url": "text",
        "channel": "text",
        "status": "text",
        "priority": "smallint",
        "branch": "bigint",
        "district": "bigint",
        "idempotency_key": "text",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "duplicate_of": "bigint",
        "duplicate_count": "integer",
        **EVENT_TYPES,
    },
)


def _wgs84(report: Report):
    location = report.location
    if location.srid != 4326:
        location = location.clone()
        if location.srid is None:
            location.srid = 4326
        else:
            location.transform(4326)
        report.location = location
    return location


def _report_columns(report: Report) -> dict:
    return {
        "category": report.category_id,
        "subcategory": report.subcategory_id,
        "location": _wgs84(report).hexewkb.decode(),
        "address": report.address,
        "description": report.description,
        "media_url": report.media_url,
        "channel": report.channel,
        "status": str(report.status),
        "priority": int(report.priority),
        "branch": report.branch_id,
        "district": report.district_id,
        "idempotency_key": report.idempotency_key,
        "created_at": report.created_at,
        "updated_at": report.updated_at,
        "duplicate_of": report.duplicate_of_id,
        "duplicate_count": report.duplicate_count or 0,
    }


def insert(*, report: Report, events: Sequence[Event]) -> None:
    """INSERT the unsaved `report` with its first `events`; sets its id and tracking number."""
    columns = event_columns(events)
    del columns["e_report"]
    with connection.cursor() as cursor:
        INSERT_STATEMENT.execute(cursor, _report_columns(report) | columns)
        report.pk, report.tracking_number = cursor.fetchone()
    report._state.adding = False
    report._state.db = connection.alias


def count_duplicate(*, original: Report, added: int, base_priority: int) -> None:
    """The original counts `added` more reports; its priority follows the crowd rule (one
    level per doubling, at most urgent) and never goes down. One UPDATE, so that concurrent
    duplicates add up (an escalation or a supervisor may have raised the priority further)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE reports_report
            SET duplicate_count = duplicate_count + %(added)s, updated_at = statement_timestamp(),
                priority = GREATEST(priority, LEAST(%(urgent)s,
                    %(base)s + floor(log(2, duplicate_count + %(added)s + 1))::int))
            WHERE id = %(id)s RETURNING duplicate_count, priority""",
            {
                "added": added,
                "urgent": int(Priority.URGENT),
                "base": base_priority,
                "id": original.pk,
            },
        )
        original.duplicate_count, original.priority = cursor.fetchone()


def duplicates_repoint(*, report: Report, original: Report) -> None:
    """The duplicates of `report` become the original's (report is merged into it)."""
    Report.objects.filter(duplicate_of=report).update(duplicate_of=original)


# Raise the priority of the given reports one level (at most urgent), with an internal event
# each, in one statement.
ESCALATE_SQL = """
WITH raised AS (
    UPDATE reports_report AS r
    SET priority = LEAST(%(urgent)s, r.priority + 1), updated_at = statement_timestamp()
    FROM unnest(%(ids)s::bigint[], %(reasons)s::text[]) AS v(id, reason)
    WHERE r.id = v.id
    RETURNING r.id, r.priority, v.reason
)
INSERT INTO reports_reportevent
    (report_id, created_at, actor_label, kind, from_status, to_status, note, public, data)
SELECT id, statement_timestamp(), %(actor)s, %(kind)s, '', '',
       initcap(reason) || '; priority raised to ' || priority, false,
       jsonb_build_object('priority', priority)
FROM raised
"""


def escalate(*, reasons: dict[int, str], actor_label: str) -> int:
    """Raise each report's priority one level with its reason; returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            ESCALATE_SQL,
            {
                "ids": list(reasons),
                "reasons": list(reasons.values()),
                "urgent": int(Priority.URGENT),
                "actor": actor_label,
                "kind": EventKind.ESCALATED.value,
            },
        )
        return cursor.rowcount


def rejoin(*, layer: str, candidates_sql: str, params: dict) -> int:
    """Move each report of `candidates_sql` (id, old_id, new_id) to its new boundary of
    `layer` where it differs, with an internal event each; returns how many moved."""
    column = {"branch": "branch_id", "district": "district_id"}[layer]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH joined AS ({candidates_sql}),
            moved AS (
                UPDATE reports_report AS r SET {column} = joined.new_id, updated_at = now()
                FROM joined
                WHERE r.id = joined.id AND joined.new_id IS DISTINCT FROM joined.old_id
                RETURNING r.id, joined.old_id, joined.new_id, r.status
            )
            INSERT INTO reports_reportevent
                (report_id, created_at, actor_label, kind, from_status, to_status,
                 note, public, data)
            SELECT id, now(), 'import_boundaries', %(kind)s, status, status, %(note)s, false,
                   jsonb_build_object('layer', %(layer)s, 'from', old_id, 'to', new_id)
            FROM moved
            """,
            params
            | {"kind": EventKind.REJOINED, "note": f"{layer} boundary changed", "layer": layer},
        )
        return cursor.rowcount
