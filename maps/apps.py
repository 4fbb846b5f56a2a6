from django.apps import AppConfig


class MapsConfig(AppConfig):
    """Map pages for the public, crews and planners, and the data endpoints they read."""

    name = "maps"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
