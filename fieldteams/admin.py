"""Django admin for the field organisation: crews with depots on a map, shifts, members,
supervisors, the business calendar and its holidays, assignments and flags (read-mostly)."""

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from .models import (
    Assignment,
    BusinessCalendar,
    Crew,
    CrewMember,
    CrewShift,
    Department,
    Holiday,
    Supervisor,
    SupervisorFlag,
)


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_ar"]
    filter_horizontal = ["categories"]


class CrewShiftInline(admin.TabularInline):
    model = CrewShift
    extra = 0


class CrewMemberInline(admin.TabularInline):
    model = CrewMember
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Crew)
class CrewAdmin(GISModelAdmin):
    list_display = ["code", "name_en", "department", "capacity_per_shift", "active"]
    list_filter = ["department", "active", "branches"]
    search_fields = ["code", "name_en", "name_ar"]
    filter_horizontal = ["skills", "branches"]
    inlines = [CrewShiftInline, CrewMemberInline]


@admin.register(Supervisor)
class SupervisorAdmin(admin.ModelAdmin):
    list_display = ["user", "department"]
    filter_horizontal = ["branches"]
    raw_id_fields = ["user"]


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "day_starts", "day_ends"]
    inlines = [HolidayInline]


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name_en", "calendar"]
    list_filter = ["calendar", "kind"]
    date_hierarchy = "date"


@admin.register(Assignment)
class AssignmentAdmin(GISModelAdmin):
    list_display = ["report", "crew", "state", "created_at", "state_changed_at"]
    list_filter = ["state", "crew__department"]
    search_fields = ["report__tracking_number", "crew__code"]
    raw_id_fields = ["report"]
    # Changes go through the workflow services (audit trail); the admin only shows them.
    readonly_fields = [f.name for f in Assignment._meta.fields if f.name != "id"]


@admin.register(SupervisorFlag)
class SupervisorFlagAdmin(admin.ModelAdmin):
    list_display = ["report", "kind", "created_at", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["report", "assignment", "resolved_by"]


# Route planning (disposal sites, crews' vehicles, stored plans): fieldteams/routing/admin.py.
from fieldteams.routing import admin as routing_admin  # noqa: E402, F401
