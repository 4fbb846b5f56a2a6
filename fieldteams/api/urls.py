"""Crew, supervisor and preventive-work endpoints, under /api/v1/."""

from django.urls import path

from . import preventive, views

urlpatterns = [
    path("crew/jobs/", views.CrewJobsView.as_view(), name="crew-jobs"),
    path("crew/jobs/<int:pk>/", views.CrewJobView.as_view(), name="crew-job"),
    path(
        "crew/jobs/<int:pk>/transition/",
        views.CrewJobTransitionView.as_view(),
        name="crew-job-transition",
    ),
    path("supervisor/queue/", views.SupervisorQueueView.as_view(), name="supervisor-queue"),
    path(
        "supervisor/reports/<int:pk>/<slug:action>/",
        views.SupervisorActionView.as_view(),
        name="supervisor-report-action",
    ),
    path(
        "supervisor/flags/<int:pk>/resolve/",
        views.SupervisorFlagResolveView.as_view(),
        name="supervisor-flag-resolve",
    ),
    # Planners: a hotspot cluster turned into preventive work (the hotspot API's URL space).
    path(
        "hotspots/clusters/<int:cluster_id>/preventive-work/",
        preventive.PreventiveWorkView.as_view(),
        name="hotspots-preventive-work",
    ),
]
