"""Route plan endpoints, under /api/v1/routes/ (fieldteams.api.routes)."""

from django.urls import path

from . import routes

urlpatterns = [
    path("routes/", routes.RoutePlanListView.as_view(), name="route-plans"),
    path("routes/plan/", routes.RoutePlanCreateView.as_view(), name="route-plan-create"),
    path("routes/crew/", routes.CrewRouteTodayView.as_view(), name="route-crew-today"),
    path("routes/<int:pk>/", routes.RoutePlanView.as_view(), name="route-plan"),
    path("routes/<int:pk>/replan/", routes.RoutePlanReplanView.as_view(), name="route-plan-replan"),
    path("routes/<int:pk>/apply/", routes.RoutePlanApplyView.as_view(), name="route-plan-apply"),
]
