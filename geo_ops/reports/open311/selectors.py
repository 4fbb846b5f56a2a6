"""Reads behind the Open311 endpoints: services, service requests, API keys."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery

from ..models import FINAL_STATUSES, ApiKey, Category, Report, ReportEvent
from ..privacy import public_location_expression, public_text_expression
from ..selectors import report_public_queryset


def api_key_hash(*, raw_key: str) -> str:
    """The stored form of an API key: its SHA-256, hex."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_resolve(*, raw_key: str) -> ApiKey | None:
    """The active API key matching the raw key a client sent, or None."""
    if not raw_key:
        return None
    return ApiKey.objects.filter(key_hash=api_key_hash(raw_key=raw_key), active=True).first()


def service_list() -> QuerySet[Category]:
    """Every Open311 service: the active subcategories of active categories."""
    return (
        Category.objects.filter(parent__isnull=False, active=True, parent__active=True)
        .select_related("parent")
        .order_by("parent__sort_order", "parent__code", "sort_order", "code")
    )


def service_get(*, code: str) -> Category | None:
    """The service with this code, or None."""
    return service_list().filter(code=code).first()


@dataclass(frozen=True)
class RequestFilters:
    """The GET requests query, already validated."""

    tracking_numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: frozenset[str] = frozenset()  # of "open", "closed"


def request_queryset() -> QuerySet[Report]:
    """Public reports with `status_notes`, the note of each one's latest public event.

    A correlated subquery, so a page of reports costs one query rather than one per report.
    """
    latest_note = (
        ReportEvent.objects.filter(report=OuterRef("pk"), public=True)
        .order_by("-created_at", "-id")
        .values("note")[:1]
    )
    return report_public_queryset().annotate(
        status_notes=Subquery(latest_note),
        public_location=public_location_expression(),
        public_description=public_text_expression("description"),
        public_address=public_text_expression("address"),
    )


def request_list(*, filters: RequestFilters, offset: int, limit: int) -> list[Report]:
    """One page of service requests matching the filters, newest first."""
    queryset = request_queryset()
    if filters.tracking_numbers:
        queryset = queryset.filter(tracking_number__in=filters.tracking_numbers)
    if filters.service_codes:
        queryset = queryset.filter(
            Q(subcategory__code__in=filters.service_codes)
            | Q(subcategory__isnull=True, category__code__in=filters.service_codes)
        )
    if filters.start:
        queryset = queryset.filter(created_at__gte=filters.start)
    if filters.end:
        queryset = queryset.filter(created_at__lte=filters.end)
    if filters.statuses == {"closed"}:
        queryset = queryset.filter(status__in=FINAL_STATUSES)
    elif filters.statuses == {"open"}:
        queryset = queryset.exclude(status__in=FINAL_STATUSES)
    return list(queryset.order_by("-created_at", "-id")[offset : offset + limit])


def request_get(*, tracking_number: str) -> Report | None:
    """The service request with this tracking number, or None."""
    return request_queryset().filter(tracking_number=tracking_number).first()
