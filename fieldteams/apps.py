from django.apps import AppConfig


class FieldteamsConfig(AppConfig):
    name = "fieldteams"
    verbose_name = "Field teams"
    default_auto_field = "django.db.models.BigAutoField"
