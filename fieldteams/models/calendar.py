"""The business calendar (working days and hours on which SLA time runs) and its holidays."""

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .crews import CodeManager, Weekday


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
