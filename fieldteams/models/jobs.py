"""Assignments of reports to crews (a crew's job, with its own workflow) and the flags that call
a supervisor's attention."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .crews import Crew


class AssignmentState(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    ACCEPTED = "accepted", _("Accepted")
    EN_ROUTE = "en_route", _("On the way")
    IN_PROGRESS = "in_progress", _("In progress")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")


# A crew's open jobs: they count against its capacity and show on its map.
ACTIVE_STATES = (
    AssignmentState.ASSIGNED,
    AssignmentState.ACCEPTED,
    AssignmentState.EN_ROUTE,
    AssignmentState.IN_PROGRESS,
    AssignmentState.PAUSED,
)


class Assignment(models.Model):
    """One crew's job on one report: why the crew was chosen, and how the job went."""

    report = models.ForeignKey(
        "reports.Report", on_delete=models.CASCADE, related_name="assignments"
    )
    crew = models.ForeignKey(Crew, on_delete=models.PROTECT, related_name="assignments")
    state = models.CharField(
        max_length=20, choices=AssignmentState.choices, default=AssignmentState.ASSIGNED
    )
    reason = models.TextField(help_text='why this crew, e.g. "skill X, covers branch Y, ..."')
    score = models.FloatField(null=True, blank=True, help_text="dispatch cost; lower is better")
    distance_m = models.FloatField(null=True, blank=True)
    assigned_by_label = models.CharField(max_length=200, help_text="dispatch, or the supervisor")
    created_at = models.DateTimeField(db_default=Now())
    state_changed_at = models.DateTimeField(db_default=Now())
    accepted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    state_reason = models.TextField(blank=True, help_text="why declined, paused or cancelled")
    completion_note = models.TextField(blank=True)
    completion_photo = models.ImageField(upload_to="crew-photos/%Y/%m/", blank=True)
    completion_location = models.PointField(srid=4326, null=True, blank=True)
    completion_distance_m = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # A crew's open jobs (workload counts at every dispatch, the crew map): partial, so
            # the finished jobs that pile up over the years are not in it.
            models.Index(
                fields=["crew", "state"],
                name="fieldteams_assign_crew_active",
                condition=Q(state__in=ACTIVE_STATES),
            ),
        ]
        constraints = [
            # A report has at most one crew working on it at a time.
            models.UniqueConstraint(
                fields=["report"],
                condition=Q(state__in=ACTIVE_STATES),
                name="fieldteams_one_active_assignment",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} -> {self.crew_id} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


class FlagKind(models.TextChoices):
    NO_ELIGIBLE_CREW = "no_eligible_crew", _("No eligible crew")
    FAR_COMPLETION = "far_completion", _("Completed far from the report")
    OVERDUE = "overdue", _("Overdue")


class SupervisorFlag(models.Model):
    """Something a supervisor must look at: an unassigned report, a doubtful proof of work, an
    overdue job. Open until resolved; at most one open flag of each kind per report."""

    report = models.ForeignKey("reports.Report", on_delete=models.CASCADE, related_name="flags")
    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    kind = models.CharField(max_length=30, choices=FlagKind.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(db_default=Now())
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["report", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="fieldteams_one_open_flag_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.report_id}"
