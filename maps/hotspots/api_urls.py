"""The planner API's routes, included under /api/v1/ by geo_ops/api_urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("hotspots/clusters/", api.ClustersView.as_view(), name="hotspots-clusters"),
    path("hotspots/hexagons/", api.HexagonsView.as_view(), name="hotspots-hexagons"),
    path("hotspots/heatmap.png", api.HeatmapView.as_view(), name="hotspots-heatmap"),
    path(
        "hotspots/clusters/<int:cluster_id>/preventive-work/",
        api.PreventiveWorkView.as_view(),
        name="hotspots-preventive-work",
    ),
    path("stats/kpis/", api.KpisView.as_view(), name="stats-kpis"),
]
