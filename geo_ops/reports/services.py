"""Writes of the report core: intake."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from layers.selectors import boundaries_for_point

from .errors import OUTSIDE_SERVICE_AREA, IntakeError
from .models import Category, Channel, EventKind, Report, ReporterContact, ReportEvent, Status
from .selectors import category_resolve


@dataclass(frozen=True)
class Reporter:
    """Contact details a reporter may leave; stored apart from the report."""

    name: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self) -> bool:
        return bool(self.name or self.phone or self.email)


def sla_due_at(*, category: Category, received_at: datetime) -> datetime:
    """When a report of this (sub)category is due: its SLA hours after receipt."""
    return received_at + timedelta(hours=category.sla_hours)


def _validate_text(*, description: str, address: str, reporter: Reporter, channel: str) -> None:
    if channel not in Channel.values:
        raise IntakeError(
            "channel", _("Unknown channel; use one of: %(c)s.") % {"c": ", ".join(Channel.values)}
        )
    limit = settings.GEO_OPS_DESCRIPTION_MAX_CHARS
    if len(description) > limit:
        raise IntakeError(
            "description",
            _("At most %(limit)d characters (got %(n)d).")
            % {"limit": limit, "n": len(description)},
            code="too_long",
        )
    if len(address) > 500:
        raise IntakeError("address", _("At most 500 characters."), code="too_long")
    for field, value, limit in (("name", reporter.name, 200), ("phone", reporter.phone, 40)):
        if len(value) > limit:
            raise IntakeError(f"reporter.{field}", _("At most %(n)d characters.") % {"n": limit})
    if reporter.email:
        try:
            EmailValidator()(reporter.email)
        except ValidationError:
            raise IntakeError("reporter.email", _("Enter a valid e-mail address.")) from None


def _report_by_idempotency_key(key: str) -> Report | None:
    """The report stored under an idempotency key, for a replay's response.

    Every intake pays for this look-up and almost always misses, so the miss is kept cheap: an
    id-only query on the partial unique index, without the model's default ordering (the key is
    unique). The rare hit then loads the report with its branch but not the branch polygon
    (100-250 kB that the response never shows).
    """
    report_id = (
        Report.objects.filter(idempotency_key=key).order_by().values_list("pk", flat=True).first()
    )
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
    """Validate, join to the branch municipality, store with its audit event.

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
    report = Report(
        category=category,
        subcategory=subcategory,
        location=location,
        address=address,
        description=description,
        media_url=media_url,
        channel=channel,
        status=Status.NEW,
        priority=specific.default_priority,
        branch=branch,
        district_id=district_id,
        idempotency_key=idempotency_key,
        created_at=received_at,
        updated_at=received_at,
        due_at=sla_due_at(category=specific, received_at=received_at),
    )
    report.save(force_insert=True)
    if reporter:
        ReporterContact.objects.create(
            report=report, name=reporter.name, phone=reporter.phone, email=reporter.email
        )
    ReportEvent.objects.create(
        report=report,
        actor=actor,
        actor_label=actor_label,
        kind=EventKind.CREATED,
        to_status=Status.NEW,
        note="Report received",
        data={"channel": channel, "branch": branch.code},
    )
    return report, True
