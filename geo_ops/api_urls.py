"""The v1 REST API router."""

from rest_framework.routers import DefaultRouter

from geo_ops.reports.api.views import BranchViewSet, ReportViewSet

router = DefaultRouter()
router.register("reports", ReportViewSet, basename="report")
router.register("branches", BranchViewSet, basename="branch")
urlpatterns = router.urls
