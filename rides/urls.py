from django.urls import path

from rides import apis, rating_apis

urlpatterns = [
    path("rides", apis.RideListApi.as_view(), name="ride-list"),
    path("rides/<uuid:ride_id>", apis.RideDetailApi.as_view(), name="ride-detail"),
    path("rides/<uuid:ride_id>/start", apis.RideStartApi.as_view(), name="ride-start"),
    path("rides/<uuid:ride_id>/end", apis.RideEndApi.as_view(), name="ride-end"),
    path("rides/<uuid:ride_id>/cancel", apis.RideCancelApi.as_view(), name="ride-cancel"),
    path("rides/<uuid:ride_id>/no-show", apis.RideNoShowApi.as_view(), name="ride-no-show"),
    path("rides/<uuid:ride_id>/report-driver-gone", apis.RideReportDriverGoneApi.as_view(),
         name="ride-report-driver-gone"),
    path("rides/<uuid:ride_id>/rating", rating_apis.RideRateApi.as_view(), name="ride-rate"),
]
