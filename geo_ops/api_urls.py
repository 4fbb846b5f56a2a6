"""The v1 REST API router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from geo_ops.reports.api.stats import AnnualStatisticsView
from geo_ops.reports.api.views import BranchViewSet, ReportViewSet

router = DefaultRouter()
router.register("reports", ReportViewSet, basename="report")
router.register("branches", BranchViewSet, basename="branch")
urlpatterns = [
    path("stats/annual/", AnnualStatisticsView.as_view(), name="stats-annual"),
    # Planners: hotspot layers, KPIs and their exports (geo_ops.hotspots).
    path("", include("geo_ops.hotspots.api.urls")),
    # Field crews' jobs, supervisors' queue and preventive work (fieldteams).
    path("", include("fieldteams.api.urls")),
    # Route plans (fieldteams.routing).
    path("", include("fieldteams.api.route_urls")),
    *router.urls,
]
