from django.apps import AppConfig


class FieldteamsConfig(AppConfig):
    name = "fieldteams"
    verbose_name = "Field teams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the signal receivers that drop the cached business calendar after an edit.
        from . import calendar  # noqa: F401
