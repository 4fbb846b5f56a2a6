"""The planner dashboard at /planner/ (planners only) and its sign-in page."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _

from fieldteams.models import Department
from fieldteams.preventive import INTERVAL_CHOICES
from geo_ops.hotspots import conf
from geo_ops.hotspots.filters import filters_from_params
from geo_ops.hotspots.models import Trend
from geo_ops.hotspots.permissions import is_planner
from geo_ops.reports.models import Category
from layers.models import BranchMunicipality


class PlannerLoginView(LoginView):
    template_name = "maps/planner_login.html"
    redirect_authenticated_user = False
    next_page = reverse_lazy("maps:planner")


def _labels() -> dict:
    """Every text the page script shows, translated here (Django i18n)."""
    return {
        "heatmap": _("Heatmap (kernel density)"),
        "clusters": _("Clusters (DBSCAN)"),
        "hexagons": _("Gi* hexagons"),
        "branches": _("Branch boundaries"),
        "reports": _("Reports"),
        "open": _("Open"),
        "period": _("First and last report"),
        "subcategory": _("Mostly"),
        "branch": _("Branch municipality"),
        "score": _("Reports per 30 days"),
        "trend": _("Trend"),
        "zscore": _("z-score"),
        "pvalue": _("p-value"),
        "bin": _("Gi* bin"),
        "loading": _("Loading…"),
        "loaded": _("%(clusters)s clusters, %(hot)s hot hexagons"),
        "failed": _("Could not load the layers."),
        "preventive": _("Create preventive work"),
        "every": _("every"),
        "days": _("days"),
        "created": _("Preventive job %(number)s created"),
        "crew": _("assigned to %(crew)s"),
        "noCrew": _("no eligible crew yet: it waits in the dispatch queue"),
        "legendTitle": _("Gi* confidence"),
        "bins": {
            str(sign * level): (
                _("Hot spot, %(level)s confidence")
                if sign > 0
                else _("Cold spot, %(level)s confidence")
            )
            % {"level": f"{confidence} %"}
            for level, confidence in ((3, 99), (2, 95), (1, 90))
            for sign in (1, -1)
        }
        | {"0": _("Not significant")},
        "trends": {value: str(label) for value, label in Trend.choices},
        "allBranches": _("All branches"),
        "allCategories": _("All categories"),
        "routes": _route_labels(),
    }


def _route_labels() -> dict:
    """Texts of the route-plan panel (maps/static/maps/planner_routes.js)."""
    return {
        "layer": _("Route plans"),
        "none": _("No route plans for this department on this day."),
        "loading": _("Loading the plans…"),
        "planning": _("Planning the cleanup rounds…"),
        "failed": _("The route plans could not be loaded."),
        "planFailed": _("The cleanup rounds could not be planned."),
        "chooseBranch": _("Choose a branch above to plan its cleanup rounds."),
        "plan": _("Plan %(id)s"),
        "cleanup": _("cleanup rounds"),
        "stops": _("%(n)s stops"),
        "left": _("%(n)s left out"),
        "trips": _("%(n)s trips"),
        "hotspot": _("Hotspot cleanup"),
        "disposal": _("Disposal site"),
        "job": _("Job"),
        "unassigned": _("Unassigned report nearby"),
        "leftOut": _("Left out"),
    }


@login_required(login_url=reverse_lazy("maps:planner_login"))
def planner_dashboard(request: HttpRequest) -> HttpResponse:
    """`/planner/`: hotspot layers, KPIs and exports for planners."""
    # Imported here: folium pulls in pandas, which no other request or command needs.
    from .planner_map import planner_map_render

    if not is_planner(request.user):
        raise PermissionDenied
    language = get_language() or "en"
    rtl = get_language_bidi()
    filters = filters_from_params({})
    described = filters.describe()
    categories = [
        {"code": c.code, "name": c.name(language)}
        for c in Category.objects.filter(parent__isnull=True).order_by("sort_order", "code")
    ]
    branches = [
        {"code": b.code, "name": b.name_ar if language.startswith("ar") else b.name_en}
        for b in BranchMunicipality.objects.order_by("code")
    ]
    config = {
        "language": language,
        "rtl": rtl,
        "urls": {
            "clusters": reverse("hotspots-clusters"),
            "hexagons": reverse("hotspots-hexagons"),
            "heatmap": reverse("hotspots-heatmap"),
            "kpis": reverse("stats-kpis"),
            "branches": reverse("maps:branch_outlines"),
            "preventive": reverse("hotspots-preventive-work", args=[0]).replace("/0/", "/ID/"),
            # The day's route plans of a department (fieldteams.routing).
            "routePlans": reverse("route-plans"),
            "routePlan": reverse("route-plan", args=[0]).replace("/0/", "/ID/"),
            "routePlanCreate": reverse("route-plan-create"),
        },
        "defaults": {"from": described["from"], "to": described["to"]},
        "intervals": list(INTERVAL_CHOICES),
        "labels": _labels(),
        "categories": {c["code"]: c["name"] for c in categories},
        "branchNames": {b["code"]: b["name"] for b in branches},
    }
    departments = [
        {"code": d.code, "name": d.name_ar if language.startswith("ar") else d.name_en}
        for d in Department.objects.order_by("code")
    ]
    context = {
        "departments": departments,
        "today": timezone.localdate().isoformat(),
        "map": planner_map_render(rtl=rtl),
        "config": config,
        "categories": categories,
        "branches": branches,
        "resolutions": conf.get("GEO_OPS_HOTSPOT_H3_RESOLUTIONS"),
        "resolution": conf.get("GEO_OPS_HOTSPOT_H3_RESOLUTION"),
        "defaults": config["defaults"],
        "tile_attribution": settings.GEO_OPS_TILE_ATTRIBUTION,
    }
    return render(request, "maps/planner.html", context)
