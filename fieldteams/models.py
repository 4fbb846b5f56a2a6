"""Field organisation: departments, crews and their members, shifts, supervisors, the business
calendar, assignments of reports to crews, and the flags that call a supervisor's attention.

Crews cover branch municipalities and are skilled for categories; dispatch (services.py) picks
among them. An Assignment is one crew's job on one report, with its own workflow; the report's
public status follows it (see workflow.py). Every change is also written to the report's
append-only audit trail (geo_ops.reports.models.ReportEvent).
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class CodeManager(models.Manager):
    """Natural key = code, so fixtures upsert by code."""

    def get_by_natural_key(self, code):
        return self.get(code=code)


class Department(models.Model):
    """A municipal department (cleanliness, lighting, roads, health inspection, ...)."""

    code = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200)
    # What the department answers for: its supervisors' queue shows these categories' reports,
    # assigned or not (an unassigned report has no crew to tell its department).
    categories = models.ManyToManyField(
        "reports.Category",
        blank=True,
        related_name="departments",
        limit_choices_to={"parent__isnull": True},
    )

    objects = CodeManager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class Crew(models.Model):
    """A field crew: what it can do (skills), where (branches), from where (depot), how much."""

    code = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="crews")
    # A top-level category means every subcategory of it.
    skills = models.ManyToManyField("reports.Category", related_name="crews")
    branches = models.ManyToManyField("layers.BranchMunicipality", related_name="crews")
    depot = models.PointField(srid=4326, help_text="Where the crew starts and ends its shift")
    capacity_per_shift = models.PositiveSmallIntegerField(
        default=8, help_text="Open jobs the crew can hold; dispatch skips a full crew"
    )
    active = models.BooleanField(default=True)

    objects = CodeManager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity_per_shift__gt=0), name="fieldteams_crew_capacity_positive"
            )
        ]

    def __str__(self) -> str:
        return self.code

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    def name(self, language: str) -> str:
        return self.name_ar if language.startswith("ar") else self.name_en


class CrewMember(models.Model):
    """A user who works in a crew (one crew per user)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crew_membership"
    )
    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="members")

    def __str__(self) -> str:
        return f"{self.user} in {self.crew}"


class Weekday(models.IntegerChoices):
    """Python's date.weekday() numbering."""

    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class CrewShift(models.Model):
    """One weekly working period of a crew: its shift calendar is the set of these.

    `ends` at or before `starts` means the shift runs past midnight. Public holidays of the
    business calendar are off unless the crew `works_holidays` (the route planner reads both).
    """

    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="shifts")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts = models.TimeField()
    ends = models.TimeField()
    works_holidays = models.BooleanField(default=False)

    class Meta:
        ordering = ["crew", "weekday", "starts"]
        constraints = [
            models.UniqueConstraint(
                fields=["crew", "weekday", "starts"], name="fieldteams_shift_unique"
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="fieldteams_shift_weekday"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.crew} {self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class Supervisor(models.Model):
    """A user who watches and steers the jobs of a department and/or of branch municipalities.

    Scope: the department's categories, the branches, or (both given) those categories in those
    branches.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="supervisor"
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="supervisors"
    )
    branches = models.ManyToManyField(
        "layers.BranchMunicipality", blank=True, related_name="supervisors"
    )

    def __str__(self) -> str:
        return f"supervisor {self.user}"


def _default_working_days() -> list[int]:
    # Sunday to Thursday: the Saudi working week (Friday and Saturday are the weekend).
    return [Weekday.SUNDAY, Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY]


class BusinessCalendar(models.Model):
    """Working days and hours on which SLA time runs; holidays are `Holiday` rows.

    The calendar whose code is settings.GEO_OPS_BUSINESS_CALENDAR is the one intake uses.
    """

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    working_days = ArrayField(
        models.PositiveSmallIntegerField(choices=Weekday.choices),
        default=_default_working_days,
        help_text="Weekdays on which SLA time runs: 0 = Monday ... 6 = Sunday",
    )
    day_starts = models.TimeField(default="07:30")
    day_ends = models.TimeField(default="14:30")

    objects = CodeManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(day_ends__gt=models.F("day_starts")),
                name="fieldteams_calendar_day_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    def clean(self) -> None:
        days = set(self.working_days or [])
        if not days:
            raise ValidationError({"working_days": _("At least one working day is needed.")})
        if not days <= set(range(7)):
            raise ValidationError({"working_days": _("Weekdays are 0 (Monday) to 6 (Sunday).")})


class HolidayKind(models.TextChoices):
    EID_AL_FITR = "eid_al_fitr", _("Eid al-Fitr")
    EID_AL_ADHA = "eid_al_adha", _("Eid al-Adha")
    NATIONAL_DAY = "national_day", _("National Day")
    FOUNDING_DAY = "founding_day", _("Founding Day")
    OTHER = "other", _("Other")


class HolidayManager(models.Manager):
    def get_by_natural_key(self, calendar_code, date):
        return self.get(calendar__code=calendar_code, date=date)


class Holiday(models.Model):
    """One public-holiday date of a calendar (an Eid of several days is several rows).

    Dates per year are data: the Eid dates follow the Umm al-Qura calendar and the official
    announcement, so an administrator enters or corrects them each year.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    kind = models.CharField(max_length=20, choices=HolidayKind.choices)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200)

    objects = HolidayManager()

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="fieldteams_holiday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name_en}"

    def natural_key(self) -> tuple:
        return (self.calendar.code, self.date.isoformat())

    natural_key.dependencies = ["fieldteams.businesscalendar"]


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


# Route plans and their configuration (issue 6), kept in their own module.
from fieldteams.routing.models import *  # noqa: E402, F403
