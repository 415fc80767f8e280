"""The ASGI application: Django for HTTP (behind the nearby fast path), the one user WebSocket `/ws/` for realtime.
Imported by the entry point nebengjek.asgi once Django is set up."""

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.handlers.asgi import ASGIHandler

from gateway.nearby import NearbyFastPath
from gateway.routing import websocket_urlpatterns
from gateway.ws_auth import JwtAuthMiddleware, OriginCheckMiddleware
from nebengjek import sync_pool


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run together in one thread hop.

    Django's own runs the chain in async mode under ASGI, and then every MiddlewareMixin middleware (security,
    sessions, CSRF, auth, messages...) calls its process_request and process_response through sync_to_async: some
    16 hops between the event loop and a thread per request, each paid in server CPU. The views are synchronous, so
    the async chain bought nothing."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_pool.run_sync(self.get_response, request, clean_connections=sync_pool.size() > 1)


django_asgi_app = OneHopASGIHandler()

application = ProtocolTypeRouter(
    {
        "http": NearbyFastPath(django_asgi_app),  # GET /api/v1/drivers/nearby without Django's stack (bench 2)
        "websocket": OriginCheckMiddleware(JwtAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
