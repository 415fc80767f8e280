from django.contrib import admin
from django.urls import include, path
from rest_framework.permissions import AllowAny
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from nebengjek import apis, views

handler404 = "nebengjek.exceptions.json_not_found"
handler500 = "nebengjek.exceptions.json_server_error"

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("locations.urls")),
    path("", include("matching.urls")),
    path("", include("rides.urls")),
    path("", include("billing.urls")),
    path("events", apis.EventListApi.as_view(), name="events"),
]

urlpatterns = [
    path("ping", views.ping, name="ping"),
    path("health/ready", views.ready, name="health-ready"),
    path("metrics", views.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny], authentication_classes=[]), name="docs"),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("ops/", include("nebengjek.ops.urls")),
]
