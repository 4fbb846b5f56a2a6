"""Reads of the hotspot analysis: the reports a layer is computed from, stored runs, layers."""

import hashlib
import json
from datetime import timedelta

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from geo_ops.reports.models import Report, Status

from . import conf
from .filters import HotspotFilters
from .models import HotspotCluster, HotspotHexagon, HotspotRun

# Reports that are not a problem on the ground are left out of every hotspot layer.
EXCLUDED_STATUSES = (Status.REJECTED, Status.DUPLICATE)


def analysis_reports(*, filters: HotspotFilters) -> QuerySet[Report]:
    """The reports a hotspot layer is computed from: received in the period, any status but
    rejected and duplicate (a closed report still tells where problems happen)."""
    reports = Report.objects.filter(
        created_at__gte=filters.date_from, created_at__lt=filters.date_to
    ).exclude(status__in=EXCLUDED_STATUSES)
    if filters.category is not None:
        reports = reports.filter(category=filters.category)
    if filters.branch is not None:
        reports = reports.filter(branch=filters.branch)
    return reports


def analysis_where(*, filters: HotspotFilters, alias: str = "r") -> tuple[str, dict]:
    """The same selection as analysis_reports as a SQL WHERE clause with named parameters, for
    the raw statements the ORM cannot express (window functions aggregated again, H3 input)."""
    clauses = [
        f"{alias}.created_at >= %(f_from)s",
        f"{alias}.created_at < %(f_to)s",
        f"{alias}.status NOT IN %(f_excluded)s",
    ]
    params: dict = {
        "f_from": filters.date_from,
        "f_to": filters.date_to,
        "f_excluded": tuple(str(s) for s in EXCLUDED_STATUSES),
    }
    if filters.category is not None:
        clauses.append(f"{alias}.category_id = %(f_category)s")
        params["f_category"] = filters.category.pk
    if filters.branch is not None:
        clauses.append(f"{alias}.branch_id = %(f_branch)s")
        params["f_branch"] = filters.branch.pk
    return " AND ".join(clauses), params


def data_fingerprint(*, filters: HotspotFilters) -> str:
    """Changes whenever a report of the selection is added, removed or updated."""
    figures = analysis_reports(filters=filters).aggregate(
        n=Count("id"), last_id=Max("id"), last_update=Max("updated_at")
    )
    stamp = figures["last_update"].isoformat() if figures["last_update"] else "-"
    return f"{figures['n']}:{figures['last_id'] or 0}:{stamp}"


def run_signature(*, kind: str, filters: HotspotFilters, params: dict) -> str:
    text = json.dumps({"kind": kind, "filters": filters.key(), "params": params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def run_current(*, signature: str, fingerprint: str) -> HotspotRun | None:
    """The newest stored run with this signature, computed from the same data, within the TTL."""
    since = timezone.now() - timedelta(seconds=conf.get("GEO_OPS_HOTSPOT_RUN_TTL"))
    return (
        HotspotRun.objects.filter(
            signature=signature, fingerprint=fingerprint, started_at__gte=since
        )
        .order_by("-started_at", "-id")
        .first()
    )


def cluster_layer(*, run: HotspotRun, filters: HotspotFilters) -> QuerySet[HotspotCluster]:
    clusters = HotspotCluster.objects.filter(run=run).select_related(
        "category", "dominant_subcategory", "branch"
    )
    if filters.min_count > 1:
        clusters = clusters.filter(report_count__gte=filters.min_count)
    return clusters.order_by("-score", "id")


def hexagon_layer(*, run: HotspotRun, filters: HotspotFilters) -> QuerySet[HotspotHexagon]:
    hexagons = HotspotHexagon.objects.filter(run=run)
    if filters.min_count > 0:
        hexagons = hexagons.filter(report_count__gte=filters.min_count)
    if filters.bins is not None:
        hexagons = hexagons.filter(bin__in=filters.bins)
    return hexagons.order_by("-z_score", "h3_index")
