from django.urls import path

from locations import apis

urlpatterns = [
    path("drivers/me/beacon", apis.DriverBeaconApi.as_view(), name="driver-beacon"),
    path("drivers/nearby", apis.DriversNearbyApi.as_view(), name="drivers-nearby"),
    path("locations", apis.LocationIngestApi.as_view(), name="locations"),
]
