from django.apps import AppConfig


class NebengjekConfig(AppConfig):
    name = "nebengjek"
    default_auto_field = "django.db.models.BigAutoField"
