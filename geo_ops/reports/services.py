"""Writes of the report core: intake."""

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from geo_ops.db.prepared import PreparedStatement
from layers.selectors import boundaries_for_point

from . import rules
from .errors import IntakeError
from .models import (
    OPEN_STATUSES,
    Category,
    EventKind,
    Priority,
    Report,
    ReporterContact,
    ReportEvent,
    Status,
)
from .rules import OUTSIDE_SERVICE_AREA
from .selectors import category_resolve


@dataclass(frozen=True)
class Reporter:
    """Contact details a reporter may leave; stored apart from the report."""

    name: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self) -> bool:
        return bool(self.name or self.phone or self.email)


def crowd_priority(*, base: int, reports: int) -> int:
    """Priority of a problem that `reports` citizens reported: the category's level, one level
    higher for every doubling of the reports (2, 4, 8, ...), at most urgent."""
    bonus = max(reports, 1).bit_length() - 1
    return min(Priority.URGENT, base + bonus)


# A report of the same problem: same category (and the same subcategory unless either has
# none), open, received within the category's window, within its radius. Raw SQL because the
# radius is metres: ST_DWithin on geography (the spheroid), which cannot use the geometry GiST
# index by itself, so a bounding box in degrees grown to more than the radius (`&&` with
# ST_Expand, which the index answers) narrows the rows first. The nearest such report is the
# original; FOR UPDATE holds it while its count grows. A prepared statement: planning it cost
# more than running it (PreparedStatement).
# The open statuses are constants, written into the statement.
_OPEN_SQL = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
DUPLICATE_SQL = f"""
SELECT r.id FROM reports_report AS r
WHERE r.location && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(dx)s, %(dy)s)
  AND ST_DWithin(
        r.location::geography,
        ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography,
        %(radius)s)
  AND r.category_id = %(category)s
  AND (r.subcategory_id = %(subcategory)s OR r.subcategory_id IS NULL OR %(subcategory)s IS NULL)
  AND r.status IN ({_OPEN_SQL})
  AND r.created_at >= %(since)s
ORDER BY ST_Distance(
        r.location::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography),
    r.created_at, r.id
LIMIT 1
FOR UPDATE OF r
"""
DUPLICATE_STATEMENT = PreparedStatement(
    "geo_ops_report_duplicate",
    DUPLICATE_SQL,
    {
        "lon": "float8",
        "lat": "float8",
        "dx": "float8",
        "dy": "float8",
        "radius": "float8",
        "category": "bigint",
        "subcategory": "bigint",
        "since": "timestamptz",
    },
)


def _degrees_margin(*, radius_m: float, lat: float) -> tuple[float, float]:
    """(dx, dy) in degrees that surely exceed `radius_m` around latitude `lat`.

    A degree of latitude is at least 110.5 km; a degree of longitude is 111.3 km * cos(lat).
    The 10 % headroom covers the ellipsoid and rounding; the exact test is ST_DWithin's.
    """
    dy = radius_m * 1.1 / 110_500
    dx = radius_m * 1.1 / (111_320 * max(math.cos(math.radians(min(abs(lat) + dy, 89.9))), 1e-6))
    return dx, dy


def duplicate_original_for(
    *,
    category: Category,
    subcategory: Category | None,
    location: Point,
    received_at: datetime,
) -> Report | None:
    """The open report this one would duplicate, locked for update, or None."""
    specific = subcategory or category
    radius = specific.duplicate_radius_m
    if not radius:
        return None
    dx, dy = _degrees_margin(radius_m=radius, lat=location.y)
    params = {
        "lon": location.x,
        "lat": location.y,
        "dx": dx,
        "dy": dy,
        "radius": radius,
        "category": category.pk,
        "subcategory": subcategory.pk if subcategory else None,
        "since": received_at - timedelta(hours=specific.duplicate_window_hours),
    }
    with connection.cursor() as cursor:
        DUPLICATE_STATEMENT.execute(cursor, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return Report.objects.only("id", "tracking_number", "status", "priority").get(pk=row[0])


def report_reported_again(
    *,
    original: Report,
    duplicate: Report,
    base_priority: int,
    actor_label: str,
    actor=None,
    from_status: str = Status.NEW,
    event_data: dict | None = None,
) -> Report:
    """Record that `duplicate` reports the same problem as `original`: a public event on the
    duplicate sends its reporter to the original; the original counts it (and its own
    duplicates), raises its priority by the crowd rule and gets an internal audit event."""
    ReportEvent.objects.create(
        report=duplicate,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.STATUS_CHANGED,
        from_status=from_status,
        to_status=Status.DUPLICATE,
        note=f"Already reported as {original.tracking_number}: follow that report.",
        public=True,
        data={"duplicate_of": original.tracking_number, **(event_data or {})},
    )
    added = 1 + (duplicate.duplicate_count or 0)
    # One UPDATE, so that concurrent duplicates add up; the priority never goes down (an
    # overdue escalation or a supervisor may have raised it further).
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
    ReportEvent.objects.create(
        report=original,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.REPORTED_AGAIN,
        note=f"Reported again as {duplicate.tracking_number}; "
        f"{original.duplicate_count + 1} reports, priority {original.priority}",
        public=False,
        data={
            "duplicate": duplicate.tracking_number,
            "reports": original.duplicate_count + 1,
            "priority": original.priority,
        },
    )
    return original


def _validate_text(*, description: str, address: str, reporter: Reporter, channel: str) -> None:
    rules.CHANNEL.check(channel)
    rules.DESCRIPTION.check(description)
    rules.ADDRESS.check(address)
    rules.REPORTER_NAME.check(reporter.name)
    rules.REPORTER_PHONE.check(reporter.phone)
    rules.REPORTER_EMAIL.check(reporter.email)


IDEMPOTENCY_STATEMENT = PreparedStatement(
    "geo_ops_report_idempotency",
    "SELECT id FROM reports_report WHERE idempotency_key = %(key)s LIMIT 1",
    {"key": "text"},
)


def _report_by_idempotency_key(key: str) -> Report | None:
    """The report stored under an idempotency key, for a replay's response.

    Every intake pays for this look-up and almost always misses, so the miss is kept cheap: an
    id-only query on the partial unique index, a prepared statement (no ORM compilation nor
    planning per request). The rare hit then loads the report with its branch but not the
    branch polygon (100-250 kB that the response never shows).
    """
    with connection.cursor() as cursor:
        IDEMPOTENCY_STATEMENT.execute(cursor, {"key": key})
        row = cursor.fetchone()
    report_id = row[0] if row else None
    if report_id is None:
        return None
    return (
        Report.objects.select_related("branch").defer("branch__geom").filter(pk=report_id).first()
    )


# Intake's latency budget (bench/live_intake.py): the report and its 'created' audit event in
# one prepared statement, one round trip and no ORM compilation per request. Raw SQL because
# the ORM cannot chain data-modifying CTEs. The columns left out take their defaults, as in the
# ORM's INSERT: NULL, or the database default (the tracking number). The event's time is
# statement_timestamp(), as Django's Now() is on PostgreSQL.
REPORT_INSERT_STATEMENT = PreparedStatement(
    "geo_ops_report_insert",
    """
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
    event AS (
        INSERT INTO reports_reportevent
            (report_id, created_at, actor_id, actor_label, kind, from_status, to_status, note,
             public, data)
        SELECT report.id, statement_timestamp(), %(actor)s, %(actor_label)s, %(kind)s,
               %(from_status)s, %(to_status)s, %(note)s, %(public)s, %(data)s::jsonb
        FROM report
    )
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
        "actor": "bigint",
        "actor_label": "text",
        "kind": "text",
        "from_status": "text",
        "to_status": "text",
        "note": "text",
        "public": "boolean",
        "data": "text",
    },
)


def _report_insert(report: Report, event: ReportEvent) -> None:
    """INSERT the new `report` with its first audit `event`; sets the report's id and
    tracking number (the event object is not updated)."""
    location = report.location
    if location.srid != 4326:
        location = location.clone()
        if location.srid is None:
            location.srid = 4326
        else:
            location.transform(4326)
        report.location = location
    with connection.cursor() as cursor:
        REPORT_INSERT_STATEMENT.execute(
            cursor,
            {
                "category": report.category_id,
                "subcategory": report.subcategory_id,
                "location": location.hexewkb.decode(),
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
                "duplicate_count": report.duplicate_count,
                "actor": event.actor_id,
                "actor_label": event.actor_label,
                "kind": str(event.kind),
                "from_status": str(event.from_status),
                "to_status": str(event.to_status),
                "note": event.note,
                "public": event.public,
                "data": json.dumps(event.data),
            },
        )
        report.pk, report.tracking_number = cursor.fetchone()
    report._state.adding = False
    report._state.db = connection.alias


def report_create(
    *,
    category_code: str,
    location: Point,
    channel: str,
    description: str = "",
    address: str = "",
    media_url: str = "",
    reporter: Reporter | None = None,
    idempotency_key: str | None = None,
    actor_label: str,
    actor=None,
) -> tuple[Report, bool]:
    """Validate, join to the branch municipality, store with its audit event; then either
    record it as a duplicate of an open report of the same problem nearby (the original counts
    one more report) or hand it to fieldteams' dispatch (SLA due time and crew), all in one
    transaction.

    Returns (report, created). The same idempotency key again returns the first report and
    created=False, also when two requests with it race.
    """
    idempotency_key = (idempotency_key or "").strip() or None
    try:
        return _report_store(
            category_code=category_code,
            location=location,
            channel=channel,
            description=description,
            address=address,
            media_url=media_url,
            reporter=reporter or Reporter(),
            idempotency_key=idempotency_key,
            actor_label=actor_label,
            actor=actor,
        )
    except IntegrityError:
        # Lost an idempotency race: the other request's INSERT committed first. The race is
        # resolved after _report_store's transaction rolled back (it writes nothing before that
        # INSERT), not inside a savepoint around the INSERT: a savepoint costs two more round
        # trips on every intake to serve the rare race (bench/live_intake.py). Inside a
        # caller's transaction the atomic block is itself a savepoint, so that stays usable.
        if idempotency_key:
            winner = _report_by_idempotency_key(idempotency_key)
            if winner:
                return winner, False
        raise


@transaction.atomic
def _report_store(
    *,
    category_code: str,
    location: Point,
    channel: str,
    description: str,
    address: str,
    media_url: str,
    reporter: Reporter,
    idempotency_key: str | None,
    actor_label: str,
    actor,
) -> tuple[Report, bool]:
    """report_create's transaction: everything but resolving a lost idempotency race."""
    description = (description or "").strip()
    if idempotency_key:
        if len(idempotency_key) > 100:
            raise IntakeError("idempotency_key", _("At most 100 characters."))
        existing = _report_by_idempotency_key(idempotency_key)
        if existing:
            return existing, False
    category, subcategory = category_resolve(code=category_code)
    _validate_text(description=description, address=address, reporter=reporter, channel=channel)
    # Branch and district in one statement, without the branch polygon (see the selector).
    branch, district_id = boundaries_for_point(point=location)
    if branch is None:
        raise IntakeError("location", str(OUTSIDE_SERVICE_AREA), code="outside_service_area")

    received_at = timezone.now()
    specific = subcategory or category
    original = duplicate_original_for(
        category=category, subcategory=subcategory, location=location, received_at=received_at
    )
    report = Report(
        category=category,
        subcategory=subcategory,
        location=location,
        address=address,
        description=description,
        media_url=media_url,
        channel=channel,
        status=Status.DUPLICATE if original else Status.NEW,
        priority=specific.default_priority,
        branch=branch,
        district_id=district_id,
        idempotency_key=idempotency_key,
        created_at=received_at,
        updated_at=received_at,
        duplicate_of=original,
        duplicate_count=0,
    )
    created = ReportEvent(
        report=report,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.CREATED,
        to_status=report.status,
        note="Report received",
        data={"channel": channel, "branch": branch.code},
    )
    if original is not None:
        created.data["duplicate_of"] = original.tracking_number
    _report_insert(report, created)
    if reporter:
        ReporterContact.objects.create(
            report=report, name=reporter.name, phone=reporter.phone, email=reporter.email
        )
    if original is None:
        # The one call into fieldteams: the SLA clock on the business calendar and the crew,
        # within this request and transaction (fieldteams/services.py).
        if settings.GEO_OPS_DISPATCH_ON_INTAKE:
            from fieldteams.services import report_dispatch

            report_dispatch(report=report)
        return report, True

    # A duplicate: no new job. The reporter follows the original (its tracking number is in
    # the response and on this report's track page); the original counts one more report.
    report_reported_again(
        original=original,
        duplicate=report,
        base_priority=specific.default_priority,
        actor_label=actor_label,
        actor=actor,
    )
    return report, True
