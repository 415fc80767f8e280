from django.apps import AppConfig


class NebengjekConfig(AppConfig):
    name = "nebengjek"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from nebengjek import tracing

        tracing.configure()  # before any handler builds its middleware chain: Django's instrumentation adds one
