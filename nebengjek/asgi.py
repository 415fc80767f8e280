"""ASGI entry point: Django for HTTP, the one user WebSocket `/ws/` for realtime."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)

from locations.asgi import NearbyFastPath  # noqa: E402
from nebengjek.routing import websocket_urlpatterns  # noqa: E402
from nebengjek.ws_auth import JwtAuthMiddleware, OriginCheckMiddleware  # noqa: E402

application = ProtocolTypeRouter({
    "http": NearbyFastPath(django_asgi_app),  # GET /api/v1/drivers/nearby without Django's stack (bench 2)
    "websocket": OriginCheckMiddleware(JwtAuthMiddleware(URLRouter(websocket_urlpatterns))),
})
