"""Operational KPIs per branch municipality x category, computed in SQL for a period."""

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from django.utils import timezone

from geo_ops.reports.models import OPEN_STATUSES, Category, Report, Status
from geo_ops.reports.statistics import PercentileCont
from layers.models import BranchMunicipality

from .filters import HotspotFilters

KPI_FIELDS = (
    "branch",
    "branch_name_en",
    "branch_name_ar",
    "category",
    "category_name_en",
    "category_name_ar",
    "received",
    "closed",
    "closure_rate",
    "median_resolution_hours",
    "sla_met_rate",
    "open_backlog",
    "overdue",
)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def kpi_rows(*, filters: HotspotFilters) -> list[dict]:
    """One row per branch x category with reports received in the period (and a total row per
    branch last, category None): received, closed, closure rate, median resolution hours, SLA
    met rate, and of those reports the ones still open (new, assigned, in progress) and open past
    their due time now."""
    reports = Report.objects.filter(
        created_at__gte=filters.date_from, created_at__lt=filters.date_to
    )
    if filters.category is not None:
        reports = reports.filter(category=filters.category)
    if filters.branch is not None:
        reports = reports.filter(branch=filters.branch)
    closed = Q(status=Status.CLOSED, closed_at__isnull=False)
    open_ = Q(status__in=OPEN_STATUSES)
    resolution = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())
    figures = {
        "received": Count("id"),
        "closed": Count("id", filter=Q(status=Status.CLOSED)),
        "median_resolution": PercentileCont(
            resolution, fraction=0.5, filter=closed, output_field=DurationField()
        ),
        "closed_with_due": Count("id", filter=closed & Q(due_at__isnull=False)),
        "sla_met": Count("id", filter=closed & Q(closed_at__lte=F("due_at"))),
        "open_backlog": Count("id", filter=open_),
        "overdue": Count("id", filter=open_ & Q(due_at__lt=timezone.now())),
    }
    grouped = reports.values("branch_id", "category_id").order_by().annotate(**figures)
    totals = reports.values("branch_id").order_by().annotate(**figures)
    branches = {b.pk: b for b in BranchMunicipality.objects.all()}
    categories = {c.pk: c for c in Category.objects.filter(parent__isnull=True)}

    def shape(row: dict, category: Category | None) -> dict:
        branch = branches.get(row["branch_id"])
        median = row["median_resolution"]
        return {
            "branch": branch.code if branch else None,
            "branch_name_en": branch.name_en if branch else "outside every branch",
            "branch_name_ar": branch.name_ar if branch else "خارج نطاق البلديات",
            "category": category.code if category else None,
            "category_name_en": category.name_en if category else "all categories",
            "category_name_ar": category.name_ar if category else "كل التصنيفات",
            "received": row["received"],
            "closed": row["closed"],
            "closure_rate": _rate(row["closed"], row["received"]),
            "median_resolution_hours": (
                round(median.total_seconds() / 3600, 1) if median is not None else None
            ),
            "sla_met_rate": _rate(row["sla_met"], row["closed_with_due"]),
            "open_backlog": row["open_backlog"],
            "overdue": row["overdue"],
        }

    def order(row: dict) -> tuple:
        branch = branches.get(row["branch_id"])
        category = categories.get(row.get("category_id"))
        return (
            branch.code if branch else "~",
            category is None,
            (category.sort_order, category.code) if category else (0, ""),
        )

    rows = [{**row} for row in grouped] + [{**row, "category_id": None} for row in totals]
    rows.sort(key=order)
    return [shape(row, categories.get(row["category_id"])) for row in rows]
