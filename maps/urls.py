"""Public pages at the site root and the map data endpoints under /maps/."""

from pathlib import Path

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

from . import views

app_name = "maps"
urlpatterns = [
    path("", views.public_map, name="public_map"),
    path("report/", views.report_problem, name="report_problem"),
    path("track/", views.track_lookup, name="track_lookup"),
    path("track/<str:tracking_number>/", views.track, name="track"),
    path("maps/open-reports.json", views.open_reports_data, name="open_reports_data"),
    path("maps/branches.geojson", views.branch_outlines, name="branch_outlines"),
]

if getattr(settings, "GEO_OPS_SERVE_MEDIA", True):
    # Citizens' photos (Report.media_url, also given out by Open311). Behind a web server set
    # GEO_OPS_SERVE_MEDIA = False and let it serve MEDIA_ROOT/report-photos/ instead.
    urlpatterns.append(
        re_path(
            r"^media/report-photos/(?P<path>.+)$",
            serve,
            {"document_root": Path(settings.MEDIA_ROOT) / "report-photos"},
            name="report_photo",
        )
    )
