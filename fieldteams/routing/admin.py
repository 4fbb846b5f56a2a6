"""Admin of route planning: disposal sites and crews' vehicles are configuration; stored plans
are shown read-only (they are made by the planner: API, command, task)."""

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from ..models import CrewRoute, CrewRouting, DisposalSite, RouteDrop, RoutePlan


@admin.register(DisposalSite)
class DisposalSiteAdmin(GISModelAdmin):
    list_display = ["code", "name_en", "opens", "closes", "unload_minutes", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name_en", "name_ar"]


@admin.register(CrewRouting)
class CrewRoutingAdmin(admin.ModelAdmin):
    list_display = ["crew", "vehicle_type", "load_capacity", "break_minutes"]
    list_filter = ["vehicle_type", "crew__department"]
    search_fields = ["crew__code"]
    filter_horizontal = ["disposal_sites"]


class CrewRouteInline(admin.TabularInline):
    model = CrewRoute
    fields = ["crew", "start_at", "end_at", "distance_m", "working_s", "trips"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


class RouteDropInline(admin.TabularInline):
    model = RouteDrop
    fields = ["kind", "report", "cluster", "crew", "priority", "reason", "detail"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(RoutePlan)
class RoutePlanAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "plan_date",
        "crew",
        "department",
        "branch",
        "status",
        "jobs_planned",
        "jobs_dropped",
        "created_at",
    ]
    list_filter = ["status", "department", "plan_date"]
    inlines = [CrewRouteInline, RouteDropInline]
    readonly_fields = [f.name for f in RoutePlan._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
