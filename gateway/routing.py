"""WebSocket routes: one socket per signed-in user."""

from django.urls import path

from gateway.consumers import UserSocketConsumer

websocket_urlpatterns = [path("ws/", UserSocketConsumer.as_asgi())]
