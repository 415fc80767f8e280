from django.urls import path

from rides import apis, chat_apis, rating_apis, share_apis

urlpatterns = [
    path("rides", apis.RideListApi.as_view(), name="ride-list"),
    path("rides/<uuid:ride_id>", apis.RideDetailApi.as_view(), name="ride-detail"),
    path("rides/<uuid:ride_id>/start", apis.RideStartApi.as_view(), name="ride-start"),
    path("rides/<uuid:ride_id>/end", apis.RideEndApi.as_view(), name="ride-end"),
    path("rides/<uuid:ride_id>/cancel", apis.RideCancelApi.as_view(), name="ride-cancel"),
    path("rides/<uuid:ride_id>/no-show", apis.RideNoShowApi.as_view(), name="ride-no-show"),
    path(
        "rides/<uuid:ride_id>/report-driver-gone",
        apis.RideReportDriverGoneApi.as_view(),
        name="ride-report-driver-gone",
    ),
    path("rides/<uuid:ride_id>/rating", rating_apis.RideRateApi.as_view(), name="ride-rate"),
    path("rides/<uuid:ride_id>/messages", chat_apis.RideMessageListApi.as_view(), name="ride-messages"),
    path(
        "rides/<uuid:ride_id>/messages/receipt", chat_apis.RideMessageReceiptApi.as_view(), name="ride-messages-receipt"
    ),
    path("rides/<uuid:ride_id>/share", share_apis.RideShareCreateApi.as_view(), name="ride-share"),
    path(
        "rides/<uuid:ride_id>/share/<uuid:share_id>", share_apis.RideShareRevokeApi.as_view(), name="ride-share-revoke"
    ),
]

# The public trip page (no sign-in), mounted at the site's root by nebengjek.urls.
share_urlpatterns = [
    path("<str:token>", share_apis.shared_trip_page, name="shared-trip"),
    path("<str:token>/state", share_apis.shared_trip_state, name="shared-trip-state"),
]
