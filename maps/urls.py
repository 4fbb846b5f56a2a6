"""Public pages at the site root and the map data endpoints under /maps/."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from . import crew_views, planner_views, views

app_name = "maps"
urlpatterns = [
    path("", views.public_map, name="public_map"),
    path("report/", views.report_problem, name="report_problem"),
    path("track/", views.track_lookup, name="track_lookup"),
    path("track/<str:tracking_number>/", views.track, name="track"),
    # The crew map (fieldteams' jobs through the crew API).
    path("crew/", crew_views.crew_map, name="crew_map"),
    path("crew/login/", crew_views.CrewLoginView.as_view(), name="crew_login"),
    path("crew/logout/", crew_views.CrewLogoutView.as_view(), name="crew_logout"),
    path("maps/open-reports.json", views.open_reports_data, name="open_reports_data"),
    path("maps/branches.geojson", views.branch_outlines, name="branch_outlines"),
    path("media/report-photos/<path:path>", views.report_photo, name="report_photo"),
    # Planners (maps/planner_views.py).
    path("planner/", planner_views.planner_dashboard, name="planner"),
    path("planner/login/", planner_views.PlannerLoginView.as_view(), name="planner_login"),
    path(
        "planner/logout/", LogoutView.as_view(next_page="maps:planner_login"), name="planner_logout"
    ),
]
