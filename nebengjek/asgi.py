"""ASGI entry point: Django for HTTP, the one user WebSocket `/ws/` for realtime."""
import os
import sys

import django
from django.core.handlers.asgi import ASGIHandler

from nebengjek import sync_pool

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

if settings.ASGI_GIL_SWITCH_INTERVAL_MS:
    sys.setswitchinterval(settings.ASGI_GIL_SWITCH_INTERVAL_MS / 1000)


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run together in one thread hop.

    Django's own runs the chain in async mode under ASGI, and then every MiddlewareMixin middleware (security,
    sessions, CSRF, auth, messages...) calls its process_request and process_response through sync_to_async: some
    16 hops between the event loop and a thread per request, which cost 4.3 ms of server CPU for a bare /ping on the
    bench machine. The views are synchronous, so the async chain bought nothing."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_pool.run_sync(self.get_response, request, clean_connections=sync_pool.size() > 1)


django_asgi_app = OneHopASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)

from locations.asgi import NearbyFastPath  # noqa: E402
from nebengjek.routing import websocket_urlpatterns  # noqa: E402
from nebengjek.ws_auth import JwtAuthMiddleware, OriginCheckMiddleware  # noqa: E402

application = ProtocolTypeRouter({
    "http": NearbyFastPath(django_asgi_app),  # GET /api/v1/drivers/nearby without Django's stack (bench 2)
    "websocket": OriginCheckMiddleware(JwtAuthMiddleware(URLRouter(websocket_urlpatterns))),
})
