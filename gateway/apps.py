from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The edge: what faces the outside (ASGI, the socket, URLs, the ops page) and wires the domains together."""

    name = "gateway"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gateway.wiring import live_sources_wire

        live_sources_wire()
