"""Writes of the report core: intake (the report's status and events go through workflow.py)."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from geo_ops.db.prepared import PreparedStatement
from layers.selectors import boundaries_for_point

from . import rules
from .dispatching import report_hand_over
from .errors import IntakeError
from .models import (
    OPEN_STATUSES,
    Category,
    Channel,
    EventKind,
    Priority,
    Report,
    ReporterContact,
    Status,
)
from .rules import OUTSIDE_SERVICE_AREA
from .selectors import category_resolve
from .workflow import Event, Role, already_reported_note, report_insert, report_reported_again


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
    report_insert(
        report=report,
        role=Role.INTAKE,
        events=_intake_events(report, original=original, actor=actor, actor_label=actor_label),
    )
    if reporter:
        ReporterContact.objects.create(
            report=report, name=reporter.name, phone=reporter.phone, email=reporter.email
        )
    if original is None:
        # The SLA clock on the business calendar and the crew, within this request and
        # transaction, through the one entry point fieldteams registers (dispatching.py).
        report_hand_over(report=report)
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


def _intake_events(report: Report, *, original: Report | None, actor, actor_label: str):
    """A new report's first events: received; for a duplicate, also the public note sending
    its reporter to the original."""
    created = Event(
        kind=EventKind.CREATED,
        actor=actor,
        actor_label=actor_label,
        to_status=report.status,
        note="Report received",
        public=True,
        data={"channel": report.channel, "branch": report.branch.code},
    )
    if original is None:
        return [created]
    created.data["duplicate_of"] = original.tracking_number
    return [
        created,
        Event(
            kind=EventKind.STATUS_CHANGED,
            actor=actor,
            actor_label=actor_label,
            from_status=Status.NEW,
            to_status=Status.DUPLICATE,
            note=already_reported_note(original),
            public=True,
            data={"duplicate_of": original.tracking_number},
        ),
    ]


def report_create_internal(
    *,
    category: Category,
    subcategory: Category | None,
    location: Point,
    branch,
    description: str,
    role: str,
    actor_label: str,
    actor=None,
    note: str,
    data: dict,
    received_at: datetime | None = None,
) -> Report:
    """A staff report (e.g. preventive work at a hotspot): new, internal, no duplicate check
    (it belongs exactly where the citizens' reports are) and no hand-over to dispatch (the
    caller dispatches it). `received_at` defaults to now (a catch-up run passes its own)."""
    now = received_at or timezone.now()
    specific = subcategory or category
    report = Report(
        category=category,
        subcategory=subcategory,
        location=location,
        description=description,
        channel=Channel.STAFF,
        status=Status.NEW,
        priority=specific.default_priority or Priority.NORMAL,
        branch=branch,
        created_at=now,
        updated_at=now,
        duplicate_count=0,
    )
    created = Event(
        kind=EventKind.CREATED,
        actor=actor,
        actor_label=actor_label,
        to_status=Status.NEW,
        note=note,
        public=False,
        data={"channel": Channel.STAFF, "branch": branch.code, **data},
    )
    return report_insert(report=report, role=role, events=[created])
