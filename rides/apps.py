from django.apps import AppConfig


class RidesConfig(AppConfig):
    name = "rides"
    default_auto_field = "django.db.models.BigAutoField"
