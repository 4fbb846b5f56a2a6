"""The planner API's routes, included under /api/v1/ by geo_ops/api_urls.py (the
preventive-work endpoint under hotspots/clusters/ is in fieldteams/api/urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("hotspots/clusters/", views.ClustersView.as_view(), name="hotspots-clusters"),
    path("hotspots/hexagons/", views.HexagonsView.as_view(), name="hotspots-hexagons"),
    path("hotspots/heatmap.png", views.HeatmapView.as_view(), name="hotspots-heatmap"),
    path("stats/kpis/", views.KpisView.as_view(), name="stats-kpis"),
]
