"""Annual statistics computed in SQL from the stored reports (never from a generator)."""

from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Q

from layers.models import BranchMunicipality

from .models import Category, Channel, Report, Status

# "Processed" in the press release's sense: taken beyond new by the municipality.
PROCESSED_STATUSES = (Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED)


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, fraction: float, output_field=None, **extra):
        super().__init__(
            expression, fraction=float(fraction), output_field=output_field or FloatField(), **extra
        )


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _counts():
    return {
        "received": Count("id"),
        "closed": Count("id", filter=Q(status=Status.CLOSED)),
    }


def annual_statistics(*, year: int) -> dict:
    """The year's figures: totals and per category, channel and branch municipality.

    The year is the local (Asia/Riyadh) calendar year of created_at.
    """
    reports = Report.objects.filter(created_at__year=year)
    totals = reports.aggregate(
        **_counts(), processed=Count("id", filter=Q(status__in=PROCESSED_STATUSES))
    )
    resolution_hours = ExpressionWrapper(
        (F("closed_at") - F("created_at")), output_field=DurationField()
    )
    closed = Q(status=Status.CLOSED, closed_at__isnull=False)
    by_category_rows = {
        row["category_id"]: row
        for row in reports.values("category_id")
        .order_by()
        .annotate(
            **_counts(),
            median_resolution=PercentileCont(
                resolution_hours, fraction=0.5, filter=closed, output_field=DurationField()
            ),
            closed_with_due=Count("id", filter=closed & Q(due_at__isnull=False)),
            sla_met=Count("id", filter=closed & Q(closed_at__lte=F("due_at"))),
        )
    }
    by_category = []
    for category in Category.objects.filter(parent__isnull=True).order_by("sort_order", "code"):
        row = by_category_rows.get(category.id, {})
        received, closed_n = row.get("received", 0), row.get("closed", 0)
        median = row.get("median_resolution")
        by_category.append(
            {
                "code": category.code,
                "name_en": category.name_en,
                "name_ar": category.name_ar,
                "received": received,
                "closed": closed_n,
                "closure_rate": _rate(closed_n, received),
                # percentile_cont over an interval comes back as a timedelta
                "median_resolution_hours": (
                    round(median.total_seconds() / 3600, 1) if median is not None else None
                ),
                "sla_met_rate": _rate(row.get("sla_met", 0), row.get("closed_with_due", 0)),
            }
        )

    channel_rows = {
        row["channel"]: row for row in reports.values("channel").order_by().annotate(**_counts())
    }
    by_channel = [
        {
            "channel": channel,
            "received": channel_rows.get(channel, {}).get("received", 0),
            "closed": channel_rows.get(channel, {}).get("closed", 0),
        }
        for channel in Channel.values
    ]

    branch_rows = {
        row["branch_id"]: row
        for row in reports.values("branch_id").order_by().annotate(**_counts())
    }
    by_branch = []
    for branch in BranchMunicipality.objects.order_by("code"):
        row = branch_rows.get(branch.id, {})
        by_branch.append(
            {
                "code": branch.code,
                "name_en": branch.name_en,
                "name_ar": branch.name_ar,
                "received": row.get("received", 0),
                "closed": row.get("closed", 0),
                "closure_rate": _rate(row.get("closed", 0), row.get("received", 0)),
            }
        )
    return {
        "year": year,
        "received": totals["received"],
        "closed": totals["closed"],
        "processed": totals["processed"],
        "closure_rate": _rate(totals["closed"], totals["received"]),
        "by_category": by_category,
        "by_channel": by_channel,
        "by_branch": by_branch,
    }
