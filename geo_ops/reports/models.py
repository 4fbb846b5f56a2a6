"""The report core: categories, reports, the reporter's contact, the audit trail, import batches."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.indexes import BrinIndex, GistIndex
from django.db.models import Q
from django.db.models.functions import Now

from .choices import (  # noqa: F401  (the report vocabulary, imported with the models)
    FINAL_STATUSES,
    OPEN_STATUSES,
    Channel,
    EventKind,
    Priority,
    PublicVisibility,
    Status,
)
from .querysets import ReportQuerySet


class CategoryManager(models.Manager):
    def get_by_natural_key(self, code):
        return self.get(code=code)


class Category(models.Model):
    """A report category or, with a parent, a subcategory (an Open311 service).

    Natural key = code, so `loaddata fixtures/categories.json` upserts by code.
    """

    code = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_ar = models.CharField(max_length=200)
    description_en = models.TextField(blank=True)
    description_ar = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    sla_hours = models.PositiveIntegerField(help_text="Working hours allowed to resolve")
    duplicate_radius_m = models.PositiveIntegerField(
        default=50, help_text="Open reports of this category within this many metres are duplicates"
    )
    public_visibility = models.CharField(
        max_length=10, choices=PublicVisibility.choices, default=PublicVisibility.EXACT
    )
    default_priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.NORMAL
    )
    # db_default too: the fixture and set-based INSERTs may leave these out.
    duplicate_window_hours = models.PositiveIntegerField(
        default=168,
        db_default=168,
        help_text="Only open reports received within this many hours can be duplicated",
    )
    proof_radius_m = models.PositiveIntegerField(
        default=200,
        db_default=200,
        help_text="A crew completing the job farther than this from the report is flagged",
    )
    callback_phone_for_crews = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Crews may see the reporter's phone number to call back (nothing else)",
    )
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    objects = CategoryManager()

    class Meta:
        ordering = ["sort_order", "code"]
        verbose_name_plural = "categories"
        constraints = [
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="category_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    @property
    def top_level(self) -> "Category":
        return self.parent if self.parent_id else self

    def name(self, language: str) -> str:
        return self.name_ar if language.startswith("ar") else self.name_en


class TrackingNumber(models.Func):
    """The database's next tracking number (function created in migration 0001).

    A database default rather than Python code so the bulk import's INSERT ... SELECT numbers its
    rows the same way as the API does, without a round trip per row.
    """

    function = "reports_next_tracking_number"
    template = "%(function)s()"
    output_field = models.CharField()


# The SQL function formatting a tracking number from its sequence value (migration 0004); the
# bulk import numbers a big load from a block of the sequence with it.
TRACKING_NUMBER_FORMAT_FUNCTION = "reports_format_tracking_number"
TRACKING_NUMBER_SEQUENCE = "reports_tracking_number_seq"


class ImportBatch(models.Model):
    """One run of a bulk import: the audit record for every report it created."""

    source = models.CharField(max_length=500)
    actor = models.CharField(max_length=200)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    rows_inserted = models.PositiveIntegerField(default=0)
    rows_already_present = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"import {self.pk} of {self.source}"


class Report(models.Model):
    """A citizen report: a WGS84 point with a category, joined to its branch municipality.

    Index choice is deliberate (see bench/bulk_import.py): every index costs on each insert, so
    the table has a GiST index for map queries, a BRIN index on created_at (reports arrive in
    time order, so BRIN is nearly free and still answers date ranges), and two composite btrees
    for the branch and category filters; the foreign keys do not get one index each.
    """

    # Unique through the named constraint in Meta: unique=True would add a second btree
    # (varchar_pattern_ops, for LIKE) that no query uses and every insert pays for.
    # Collation "C" for this and external_id, codes that are only ever compared for equality:
    # PostgreSQL sorts them by bytes with abbreviated keys instead of strcoll() ("C.UTF-8" is
    # not its "C"), which builds each unique index a third faster (0.70 -> 0.45 s for 1M rows).
    tracking_number = models.CharField(max_length=20, db_default=TrackingNumber(), db_collation="C")
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        related_name="reports",
        db_index=False,
        limit_choices_to={"parent__isnull": True},
    )
    subcategory = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        related_name="subcategory_reports",
        null=True,
        blank=True,
        db_index=False,
    )
    # spatial_index=False: the named GiST index in Meta is the one; GeoDjango's default would
    # add a second, identical one that every insert pays for (see bench/bulk_import.py).
    location = models.PointField(srid=4326, spatial_index=False)
    address = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    media_url = models.URLField(max_length=500, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    branch = models.ForeignKey(
        "layers.BranchMunicipality",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reports",
        db_index=False,
    )
    district = models.ForeignKey(
        "layers.District",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports",
        db_index=False,
    )
    external_id = models.CharField(max_length=100, null=True, blank=True, db_collation="C")
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)
    import_batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    # Crowd signal: a report of the same problem within the category's radius and time window
    # is stored as a duplicate of the open original, whose count (and priority) grows instead.
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
        db_index=False,
    )
    duplicate_count = models.PositiveIntegerField(default=0, db_default=0)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            GistIndex(fields=["location"], name="reports_location_gist"),
            BrinIndex(fields=["created_at"], name="reports_created_brin"),
            models.Index(fields=["branch", "category", "status"], name="reports_branch_cat_status"),
            models.Index(fields=["category", "status"], name="reports_category_status"),
            # Partial: only duplicates are in it, so imports and ordinary intake pay nothing.
            models.Index(
                fields=["duplicate_of"],
                name="reports_duplicate_of",
                condition=Q(duplicate_of__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tracking_number"], name="reports_tracking_number_unique"
            ),
            # Partial unique indexes: rows without a key cost nothing in them.
            models.UniqueConstraint(
                fields=["external_id"],
                condition=Q(external_id__isnull=False),
                name="reports_external_id_unique",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="reports_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=models.F("created_at")),
                name="reports_closed_after_created",
            ),
        ]

    def __str__(self) -> str:
        return self.tracking_number

    @property
    def specific_category(self) -> Category:
        """The subcategory when there is one, else the category: whose SLA, radius and proof
        distance apply to this report."""
        return self.subcategory if self.subcategory_id else self.category


class ReporterContact(models.Model):
    """The reporter's personal data, in a table of its own so that no public query selects it."""

    report = models.OneToOneField(
        Report, on_delete=models.CASCADE, primary_key=True, related_name="contact"
    )
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return f"contact for {self.report_id}"


class ReportEvent(models.Model):
    """Append-only audit trail of a report: who, when, what changed and why.

    Updates are refused by a database trigger (migration 0001), not only by this model.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(db_default=Now())
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor_label = models.CharField(max_length=200, help_text="who acted: a user, API key or job")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    note = models.TextField(blank=True, help_text="why")
    public = models.BooleanField(default=True, help_text="shown on the public track page")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.report_id}"


class ApiKey(models.Model):
    """A key that lets a client (an app, a partner system) POST Open311 service requests."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key")
    created_at = models.DateTimeField(db_default=Now())
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name
