from django.apps import AppConfig


class LayersConfig(AppConfig):
    name = "layers"
    verbose_name = "Reference layers"
    default_auto_field = "django.db.models.BigAutoField"
