"""Route plans: what the planner stored, crew by crew, stop by stop, and what it left out and why.

Also the two pieces of configuration the planner needs beyond the field organisation: a crew's
vehicle (speed and load from settings.GEO_OPS_ROUTE_VEHICLE_TYPES, break, disposal sites) and
the disposal sites where cleanup trucks unload mid-shift. Models of the fieldteams app, in its
models package so that the routing code imports them downward (no models <-> routing cycle).
"""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

__all__ = [
    "CrewRoute",
    "CrewRouting",
    "DisposalSite",
    "DropReason",
    "PlanStatus",
    "RouteDrop",
    "RoutePlan",
    "RouteStop",
    "StopKind",
]


class DisposalSite(models.Model):
    """A landfill or transfer station where a cleanup truck empties its load and goes on."""

    code = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200)
    location = models.PointField(srid=4326)
    opens = models.TimeField(default="00:00")
    closes = models.TimeField(default="23:59")
    unload_minutes = models.PositiveSmallIntegerField(default=15)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def name(self, language: str) -> str:
        return self.name_ar if language.startswith("ar") else self.name_en


class CrewRouting(models.Model):
    """How a crew travels: vehicle type (speed, load), its break, where it may unload.

    A crew without this row drives settings.GEO_OPS_ROUTE_DEFAULT_VEHICLE with the default break.
    """

    crew = models.OneToOneField("fieldteams.Crew", on_delete=models.CASCADE, related_name="routing")
    vehicle_type = models.CharField(
        max_length=32, help_text="a key of settings.GEO_OPS_ROUTE_VEHICLE_TYPES"
    )
    load_capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="load units before unloading; empty: the vehicle's"
    )
    disposal_sites = models.ManyToManyField(
        DisposalSite, blank=True, related_name="crews", help_text="empty: every active site"
    )
    break_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    break_earliest_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="after the shift starts"
    )
    break_latest_minutes = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "crew routing profile"

    def __str__(self) -> str:
        return f"{self.crew_id}: {self.vehicle_type}"


class PlanStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RoutePlan(models.Model):
    """One planning run: one crew, or the crews of a department in a branch sharing the jobs."""

    plan_date = models.DateField()
    crew = models.ForeignKey(
        "fieldteams.Crew", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    department = models.ForeignKey(
        "fieldteams.Department", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    branch = models.ForeignKey(
        "layers.BranchMunicipality",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.QUEUED)
    options = models.JSONField(default=dict, blank=True)
    replan_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replans"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    runtime_ms = models.PositiveIntegerField(default=0)
    solver = models.CharField(max_length=40, blank=True)
    travel_times = models.CharField(max_length=100, blank=True)
    jobs_planned = models.PositiveIntegerField(default=0)
    jobs_dropped = models.PositiveIntegerField(default=0)
    distance_m = models.FloatField(default=0)
    driving_s = models.FloatField(default=0)
    working_s = models.FloatField(default=0)
    # Violations found by the independent checks (fieldteams.routing.checks on the solver's
    # instance, fieldteams.routing.validate on the stored stops); empty when the plan is feasible.
    check_errors = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True)  # approximations made, skipped crews
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["plan_date", "department"], name="fieldteams_plan_day")]
        constraints = [
            models.CheckConstraint(
                condition=Q(crew__isnull=False) | Q(department__isnull=False),
                name="fieldteams_plan_has_scope",
            ),
        ]

    def __str__(self) -> str:
        scope = self.crew_id or f"{self.department_id}/{self.branch_id}"
        return f"plan {self.pk} {self.plan_date} {scope} ({self.status})"


class CrewRoute(models.Model):
    """One crew's route of a plan: its shift, times, totals and the line to draw."""

    plan = models.ForeignKey(RoutePlan, on_delete=models.CASCADE, related_name="routes")
    crew = models.ForeignKey("fieldteams.Crew", on_delete=models.CASCADE, related_name="routes")
    vehicle_type = models.CharField(max_length=32)
    load_capacity = models.PositiveIntegerField(null=True, blank=True)
    shift_start = models.DateTimeField()
    shift_end = models.DateTimeField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    distance_m = models.FloatField(default=0)
    driving_s = models.FloatField(default=0)
    service_s = models.FloatField(default=0)
    waiting_s = models.FloatField(default=0)
    break_s = models.FloatField(default=0)
    working_s = models.FloatField(default=0)  # start to end: driving, service, waiting, break
    trips = models.PositiveSmallIntegerField(default=1)
    geometry = models.LineStringField(srid=4326, null=True, blank=True)

    class Meta:
        ordering = ["plan", "crew__code"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "crew"], name="fieldteams_route_crew_once"),
        ]

    def __str__(self) -> str:
        return f"route of {self.crew_id} in plan {self.plan_id}"


class StopKind(models.TextChoices):
    START = "start", _("Start")
    JOB = "job", _("Job")
    UNASSIGNED = "unassigned", _("Unassigned report nearby")
    HOTSPOT = "hotspot", _("Hotspot cleanup")
    DISPOSAL = "disposal", _("Disposal site")
    BREAK = "break", _("Break")
    END = "end", _("End")


class RouteStop(models.Model):
    """One stop of a route in order, with its times: arrival, service start, departure."""

    route = models.ForeignKey(CrewRoute, on_delete=models.CASCADE, related_name="stops")
    sequence = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=12, choices=StopKind.choices)
    assignment = models.ForeignKey(
        "fieldteams.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    report = models.ForeignKey(
        "reports.Report", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cluster = models.ForeignKey(
        "hotspots.HotspotCluster",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    disposal_site = models.ForeignKey(
        DisposalSite, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    location = models.PointField(srid=4326)
    arrival_at = models.DateTimeField()
    start_at = models.DateTimeField()
    departure_at = models.DateTimeField()
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)  # latest service start
    due_at = models.DateTimeField(null=True, blank=True)
    late = models.BooleanField(default=False)  # finishes after its SLA due time
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    travel_s = models.FloatField(default=0)  # the leg from the previous stop
    distance_m = models.FloatField(default=0)
    service_s = models.FloatField(default=0)
    load = models.PositiveIntegerField(default=0)  # this stop's load
    load_after = models.PositiveIntegerField(default=0)  # on board when leaving
    trip = models.PositiveSmallIntegerField(default=0)
    kept = models.BooleanField(default=False)  # already started: kept first by a re-plan

    class Meta:
        ordering = ["route", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["route", "sequence"], name="fieldteams_stop_sequence"),
        ]

    def __str__(self) -> str:
        return f"{self.route_id}#{self.sequence} {self.kind}"


class DropReason(models.TextChoices):
    NO_CREW = "no_crew", _("No crew of the plan can do it")
    OFF_SHIFT = "off_shift", _("Its crew is not on shift that day")
    WINDOW = "window", _("Its due time cannot be met")
    TOO_FAR = "too_far", _("Too far for the shift")
    TOO_HEAVY = "too_heavy", _("Larger than the truck's load")
    NO_ROOM = "no_room", _("The shifts are full: lower priority than the planned jobs")


class RouteDrop(models.Model):
    """A job, nearby report or hotspot the plan left out, with the reason (never silent)."""

    plan = models.ForeignKey(RoutePlan, on_delete=models.CASCADE, related_name="drops")
    kind = models.CharField(max_length=12, choices=StopKind.choices)
    assignment = models.ForeignKey(
        "fieldteams.Assignment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    report = models.ForeignKey(
        "reports.Report", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cluster = models.ForeignKey(
        "hotspots.HotspotCluster",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    crew = models.ForeignKey(
        "fieldteams.Crew",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="the crew the job is assigned to",
    )
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=12, choices=DropReason.choices)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["plan", "-priority", "id"]

    def __str__(self) -> str:
        return f"dropped {self.kind} in plan {self.plan_id}: {self.reason}"
