"""Departments, crews and their members, shifts and supervisors."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
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
