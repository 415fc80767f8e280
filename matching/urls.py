from django.urls import path

from matching import apis

urlpatterns = [
    path("rides/requests", apis.RequestCreateApi.as_view(), name="ride-request-create"),
    path("rides/requests/<uuid:request_id>", apis.RequestDetailApi.as_view(), name="ride-request-detail"),
    path("rides/requests/<uuid:request_id>/confirm", apis.RequestConfirmApi.as_view(), name="ride-request-confirm"),
    path("rides/requests/<uuid:request_id>/cancel", apis.RequestCancelApi.as_view(), name="ride-request-cancel"),
    path("matches/<uuid:match_id>", apis.MatchDetailApi.as_view(), name="match-detail"),
    path("matches/<uuid:match_id>/accept", apis.MatchAcceptApi.as_view(), name="match-accept"),
    path("matches/<uuid:match_id>/reject", apis.MatchRejectApi.as_view(), name="match-reject"),
]
