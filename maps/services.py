"""Writes of the map pages: the public map's summary, and a report sent from the public map."""

import hashlib
import logging
import threading
import time
import uuid
from datetime import timedelta

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, IntegerField, Sum
from django.db.models.functions import Cast, Floor
from django.utils import timezone

from geo_ops.db.functions import X, Y
from geo_ops.reports.models import Channel, Report
from geo_ops.reports.privacy import public_location_expression
from geo_ops.reports.selectors import point_from_coordinates
from geo_ops.reports.services import report_create

from . import conf
from .models import SUMMARY_CELL_DEG, PublicMapCell, PublicMapSummary
from .photos import CleanPhoto
from .selectors import public_map_summary, public_open_reports, without_jit

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the summary rebuild ("maps" in ASCII), so rebuilds never overlap.
SUMMARY_LOCK_KEY = 0x6D617073
_background_refresh = threading.Lock()


@transaction.atomic
def public_map_summary_refresh() -> PublicMapSummary:
    """Rebuild the public map's per-cell counts of open reports in one INSERT ... SELECT.

    Readers keep seeing the old cells until this transaction commits (MVCC), so the map never
    shows an empty or half-built summary. The cells hold the reports up to `covers_up_to_id`;
    newer ones are left to the live part of the map query, so none is counted twice.
    """
    started = time.perf_counter()
    without_jit()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SUMMARY_LOCK_KEY])
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Report._meta.db_table}")
        covers_up_to_id = cursor.fetchone()[0]
    cells = (
        public_open_reports()
        .filter(id__lte=covers_up_to_id)
        .annotate(public_location=public_location_expression())
        .annotate(
            gx=Cast(Floor(X("public_location") / SUMMARY_CELL_DEG), IntegerField()),
            gy=Cast(Floor(Y("public_location") / SUMMARY_CELL_DEG), IntegerField()),
        )
        .values("gx", "gy", "category_id")
        .annotate(n=Count("id"), sx=Sum(X("public_location")), sy=Sum(Y("public_location")))
        .order_by()
    )
    select_sql, params = cells.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PublicMapCell._meta.db_table}")
        # INSERT ... SELECT: the ORM cannot insert from a query, and one set-based statement
        # is what keeps a rebuild over a million reports at about a second.
        cursor.execute(
            f"""
            INSERT INTO {PublicMapCell._meta.db_table}
                (cx, cy, category_id, reports, sum_lon, sum_lat)
            SELECT cells.gx, cells.gy, cells.category_id, cells.n, cells.sx, cells.sy
            FROM ({select_sql}) AS cells
            """,
            params,
        )
        n_cells = cursor.rowcount
    totals = PublicMapCell.objects.aggregate(reports=Sum("reports"))
    PublicMapSummary.objects.all().delete()
    return PublicMapSummary.objects.create(
        covers_up_to_id=covers_up_to_id,
        reports=totals["reports"] or 0,
        cells=n_cells,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def _refresh_in_background() -> None:
    try:
        public_map_summary_refresh()
    except Exception:  # a failed rebuild keeps the old summary; the next request retries
        logger.exception("public map summary rebuild failed")
    finally:
        connection.close()
        _background_refresh.release()


def public_map_summary_ensure() -> PublicMapSummary:
    """The current summary: built now when there is none, rebuilt in a background thread when
    older than GEO_OPS_PUBLIC_MAP_SUMMARY_TTL seconds (the request meanwhile uses the old one
    plus the live count of newer reports, so it does not wait)."""
    summary = public_map_summary()
    if summary is None:
        return public_map_summary_refresh()
    age = timezone.now() - summary.refreshed_at
    stale = age > timedelta(seconds=conf.get("GEO_OPS_PUBLIC_MAP_SUMMARY_TTL"))
    # One rebuild per process at a time; the advisory lock serialises processes.
    if stale and _background_refresh.acquire(blocking=False):
        threading.Thread(
            target=_refresh_in_background, name="public-map-summary", daemon=True
        ).start()
    return summary


def _submission_key(submission_id, subcategory_code, location, description, photo) -> str | None:
    """The idempotency key of a form submission: the form's id plus a digest of what it says.

    The same form sent twice (a double click, a retried POST) gives the same key, so one report.
    A browser's back button can bring the form back with its old id for a second, different
    problem; the digest keeps that one from being taken for the first.
    """
    if not submission_id:
        return None
    digest = hashlib.sha256(
        "\x1f".join(
            [
                subcategory_code,
                f"{location.x:.6f},{location.y:.6f}",
                description.strip(),
                hashlib.sha256(photo.content).hexdigest() if photo else "",
            ]
        ).encode()
    ).hexdigest()[:20]
    return f"web:{submission_id[:64]}:{digest}"


def web_report_submit(
    *,
    subcategory_code: str,
    lon,
    lat,
    description: str,
    photo: CleanPhoto | None = None,
    submission_id: str | None = None,
    media_url_for=None,
) -> tuple[Report, bool]:
    """Store a report sent from the public map through the one intake service (channel "web").

    The photo, already checked and stripped of metadata, is written only with the report, in the
    same transaction: bad input stores neither. `submission_id` (a hidden field of the form)
    makes a double-submitted form return the first report (see _submission_key).
    `media_url_for(url)` turns the stored file's URL into the absolute one kept in
    Report.media_url.
    """
    location = point_from_coordinates(lon=lon, lat=lat)
    name = ""
    media_url = ""
    if photo is not None:
        today = timezone.localdate()
        name = f"report-photos/{today:%Y/%m}/{uuid.uuid4().hex}.{photo.extension}"
        url = default_storage.url(name)
        media_url = media_url_for(url) if media_url_for else url
    with transaction.atomic():
        report, created = report_create(
            category_code=subcategory_code,
            location=location,
            channel=Channel.WEB,
            description=description,
            media_url=media_url,
            idempotency_key=_submission_key(
                submission_id, subcategory_code, location, description, photo
            ),
            actor_label="web:public-map",
        )
        if created and photo is not None:
            # Inside the transaction: if writing the file fails, the report is not stored.
            saved = default_storage.save(name, ContentFile(photo.content))
            if saved != name:  # the storage renamed it (never expected: the name is a UUID)
                url = default_storage.url(saved)
                report.media_url = media_url_for(url) if media_url_for else url
                report.save(update_fields=["media_url"])
    return report, created
