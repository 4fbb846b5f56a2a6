"""Preventive work: a hotspot turned into a recurring job for the crew responsible for it.

Each occurrence is a staff report at the hotspot's centre (category and dominant subcategory of
the cluster), handed to a crew by `fieldteams.services.report_dispatch`, the same dispatch
service intake uses (skills, coverage, shift, capacity). The report is stored by the report
core's `report_create_internal` rather than intake's `report_create` on purpose: intake would
file it as a duplicate of the open citizen reports at the hotspot (same category, within the
radius), which is exactly where preventive work belongs. The next occurrence is due
`interval_days` after the previous one and is created by `preventive_work_due` (periodic task)
once the previous job is no longer open.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from geo_ops.hotspots.models import HotspotCluster
from geo_ops.reports.models import OPEN_STATUSES
from geo_ops.reports.services import report_create_internal
from geo_ops.reports.workflow import Role

from .models import PreventiveWork
from .services import report_dispatch

ACTOR_LABEL = "planner:preventive-work"
INTERVAL_CHOICES = (7, 14, 30)


class PreventiveWorkError(ValueError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def suggested_interval_days(*, cluster: HotspotCluster) -> int:
    """Weekly for a spot producing a report a week or more, fortnightly from two a month,
    monthly otherwise (cluster.score is reports per 30 days)."""
    if cluster.score >= 4:
        return 7
    if cluster.score >= 2:
        return 14
    return 30


def _job_create(*, work: PreventiveWork, actor, now: datetime):
    """One occurrence: the staff report, its audit event, and dispatch to a crew."""
    report = report_create_internal(
        category=work.category,
        subcategory=work.subcategory,
        location=work.location,
        branch=work.branch,
        description=work.description,
        role=Role.PLANNER,
        actor=actor,
        actor_label=ACTOR_LABEL,
        note="Preventive work at a hotspot",
        data={"preventive_work": work.pk},
        received_at=now,
    )
    assignment = report_dispatch(report=report, actor_label=ACTOR_LABEL)
    work.last_report = report
    work.jobs_created += 1
    work.next_due_at = now + timedelta(days=work.interval_days)
    work.save(update_fields=["last_report", "jobs_created", "next_due_at"])
    return report, assignment


@transaction.atomic
def preventive_work_create(
    *, cluster: HotspotCluster, interval_days: int | None = None, actor=None
):
    """Turn a cluster into recurring preventive work and dispatch its first job now.

    Returns (work, report, assignment); assignment is None when no crew is eligible (the report
    then waits with a supervisor flag, as any undispatched report does).
    """
    if cluster.branch_id is None:
        raise PreventiveWorkError("cluster", "the hotspot lies outside every branch municipality")
    interval = interval_days or suggested_interval_days(cluster=cluster)
    if interval < 1 or interval > 365:
        raise PreventiveWorkError("interval_days", "expected 1 to 365 days")
    now = timezone.now()
    sub = cluster.dominant_subcategory
    work = PreventiveWork.objects.create(
        cluster=cluster,
        category=cluster.category,
        subcategory=sub,
        branch_id=cluster.branch_id,
        location=cluster.centroid,
        hull=cluster.hull,
        description=(
            f"Preventive work every {interval} days at a hotspot of "
            f"{cluster.report_count} {cluster.category.name_en} reports "
            f"({(sub or cluster.category).name_en}); "
            f"أعمال وقائية كل {interval} يوماً في بؤرة بلاغات {cluster.category.name_ar}"
        ),
        interval_days=interval,
        next_due_at=now,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    report, assignment = _job_create(work=work, actor=work.created_by, now=now)
    return work, report, assignment


def preventive_work_due(*, now: datetime | None = None) -> int:
    """Create and dispatch the next job of every active preventive work that is due and whose
    previous job is finished. Returns the number of jobs created."""
    now = now or timezone.now()
    created = 0
    due = PreventiveWork.objects.filter(active=True, next_due_at__lte=now).select_related(
        "last_report", "category", "subcategory", "branch"
    )
    for work in due:
        if work.last_report is not None and work.last_report.status in OPEN_STATUSES:
            continue  # the last visit is still pending: no second job on top of it
        with transaction.atomic():
            _job_create(work=work, actor=None, now=now)
        created += 1
    return created
