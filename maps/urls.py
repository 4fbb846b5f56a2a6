"""Public pages at the site root and the map data endpoints under /maps/."""

from django.urls import path

from . import views

app_name = "maps"
urlpatterns = [
    path("", views.public_map, name="public_map"),
    path("report/", views.report_problem, name="report_problem"),
    path("track/", views.track_lookup, name="track_lookup"),
    path("track/<str:tracking_number>/", views.track, name="track"),
    path("maps/open-reports.json", views.open_reports_data, name="open_reports_data"),
    path("maps/branches.geojson", views.branch_outlines, name="branch_outlines"),
    path("media/report-photos/<path:path>", views.report_photo, name="report_photo"),
]
