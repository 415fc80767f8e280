from django.contrib import admin
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from gateway import apis, views
from nebengjek import exceptions
from rides.urls import share_urlpatterns

handler404 = "nebengjek.exceptions.json_not_found"
handler500 = "nebengjek.exceptions.json_server_error"

api_v1: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("locations.urls")),
    path("", include("matching.urls")),
    path("", include("rides.urls")),
    path("", include("billing.urls")),
    path("events", apis.EventListApi.as_view(), name="events"),
]

_public = {"permission_classes": [AllowAny], "authentication_classes": []}

urlpatterns = [
    path("", views.landing, name="landing"),
    path("ping", views.ping, name="ping"),
    path("health/ready", views.ready, name="health-ready"),
    path("metrics", views.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(**_public), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **_public), name="docs"),
    path("api/asyncapi.json", views.asyncapi, name="asyncapi"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", **_public), name="redoc"),
    path("api/v1/", include(api_v1)),
    # Last under /api/: an unknown API path is a JSON 404 in every mode (DEBUG's HTML page never reaches a client).
    re_path(r"^api/", csrf_exempt(exceptions.json_not_found)),  # a POST too: never Django's HTML CSRF page
    path("admin/", admin.site.urls),
    path("ops/", include("gateway.ops.urls")),
    path("share/", include(share_urlpatterns)),  # the public shared-trip page (rides.share_apis)
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]
