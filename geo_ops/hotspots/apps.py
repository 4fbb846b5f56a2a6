from django.apps import AppConfig


class HotspotsConfig(AppConfig):
    """Hotspot analysis: runs, DBSCAN clusters, H3/Gi* hexagons, trends, KPIs and exports."""

    name = "geo_ops.hotspots"
    label = "hotspots"
    default_auto_field = "django.db.models.BigAutoField"
