from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "geo_ops.reports"
    label = "reports"
    verbose_name = "Citizen reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the layers signals)
