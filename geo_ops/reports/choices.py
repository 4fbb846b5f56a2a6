"""The report vocabulary: channels, statuses, priorities, public visibility, event kinds.

Apart from the models so that the query vocabulary (querysets.py) and the workflow can use them
without importing the models module back.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    HOTLINE_940 = "hotline_940", _("940 hotline")
    APP = "app", _("Balaghati app")
    WEB = "web", _("Web")
    SOCIAL = "social", _("Social media")
    STAFF = "staff", _("Staff")


class Status(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected")
    DUPLICATE = "duplicate", _("Duplicate")


# Still waiting for work in the field.
OPEN_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS)
# Finished from the citizen's point of view (Open311 "closed").
FINAL_STATUSES = (Status.CLOSED, Status.REJECTED, Status.DUPLICATE)


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class PublicVisibility(models.TextChoices):
    EXACT = "exact", _("Exact location")
    COARSE = "coarse", _("Coarsened location (about 100 m)")
    HIDDEN = "hidden", _("Not shown to the public")


class EventKind(models.TextChoices):
    CREATED = "created", _("Received")
    STATUS_CHANGED = "status_changed", _("Status changed")
    REJOINED = "rejoined", _("Branch changed by a boundary update")
    NOTE = "note", _("Note")
    DISPATCHED = "dispatched", _("Dispatched")
    JOB_UPDATE = "job_update", _("Field work update")
    ESCALATED = "escalated", _("Escalated")
    REPORTED_AGAIN = "reported_again", _("Reported again")
