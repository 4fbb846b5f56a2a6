from django.apps import AppConfig


class FieldteamsConfig(AppConfig):
    name = "fieldteams"
    verbose_name = "Field teams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the signal receivers that drop the cached business calendar after an edit.
        # The report core's one way into dispatch (geo_ops/reports/dispatching.py): it never
        # imports fieldteams, which sits above it.
        from geo_ops.reports.dispatching import dispatch_handler_register

        from . import calendar  # noqa: F401
        from .services.dispatch import report_dispatch

        dispatch_handler_register(report_dispatch)
