from django.urls import path

from gateway.ops import views

urlpatterns = [
    path("", views.ops_page, name="ops"),
    path("token", views.ops_socket_token, name="ops-token"),
    path("snapshot", views.ops_snapshot_json, name="ops-snapshot"),
    path("series", views.ops_series_json, name="ops-series"),
]
