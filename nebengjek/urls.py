"""URL entry point (ROOT_URLCONF): the routes are wired in the edge app, gateway.urls."""

from gateway.urls import handler404, handler500, urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]
