from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data: `generate_demo_data` and `check_demo_hotspots` (local and test settings only)."""

    name = "geo_ops.demo"
    label = "demo"
    verbose_name = "Demo data"
