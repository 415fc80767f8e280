"""REST endpoints of matching (../shared/API.md "Matching"): thin, each calls one service.

The answers use matching.serializers' output serializers, the same shapes the pushes carry (matching/events.py).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from matching import overload, selectors, services
from matching.serializers import (
    MatchOutputSerializer,
    RequestCancelInputSerializer,
    RequestCreateInputSerializer,
    RideRequestOutputSerializer,
)
from rides.serializers import RideOutputSerializer


def _request_body(request, match, ride_id) -> dict:
    return RideRequestOutputSerializer(request, context={"match": match, "ride_id": ride_id}).data


def _match_body(match_id, driver) -> dict:
    return MatchOutputSerializer(selectors.match_get_for_driver(match_id=match_id, driver=driver)).data


class RequestCreateApi(APIView):
    @extend_schema(request=RequestCreateInputSerializer, responses={201: RideRequestOutputSerializer})
    def post(self, request):
        overload.door_check()
        data = RequestCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pickup, destination = data.validated_data["pickup"], data.validated_data["destination"]
        ride_request = services.request_create(
            passenger=request.user,
            pickup_lat=pickup["lat"],
            pickup_lng=pickup["lng"],
            destination_lat=destination["lat"],
            destination_lng=destination["lng"],
            payment_method=data.validated_data["payment_method"],
            product=data.validated_data["product"],
        )
        return Response(_request_body(ride_request, None, None), status=status.HTTP_201_CREATED)


class RequestDetailApi(APIView):
    @extend_schema(responses={200: RideRequestOutputSerializer})
    def get(self, request, request_id):
        return Response(
            _request_body(*selectors.request_get_for_passenger(request_id=request_id, passenger=request.user))
        )


class RequestConfirmApi(APIView):
    @extend_schema(request=None, responses={201: RideOutputSerializer})
    def post(self, request, request_id):
        ride = services.request_confirm(request_id=request_id, passenger=request.user)
        return Response(RideOutputSerializer(ride).data, status=status.HTTP_201_CREATED)


class RequestCancelApi(APIView):
    @extend_schema(request=RequestCancelInputSerializer, responses={200: RideRequestOutputSerializer})
    def post(self, request, request_id):
        data = RequestCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cancelled = services.request_cancel(
            request_id=request_id, passenger=request.user, reason=data.validated_data["reason"]
        )
        return Response(_request_body(*selectors.request_with_current_match(cancelled)))


class MatchDetailApi(APIView):
    @extend_schema(responses={200: MatchOutputSerializer})
    def get(self, request, match_id):
        return Response(_match_body(match_id, request.user))


class MatchAcceptApi(APIView):
    @extend_schema(request=None, responses={200: MatchOutputSerializer})
    def post(self, request, match_id):
        services.match_accept(match_id=match_id, driver=request.user)
        return Response(_match_body(match_id, request.user))


class MatchRejectApi(APIView):
    @extend_schema(request=None, responses={200: MatchOutputSerializer})
    def post(self, request, match_id):
        services.match_reject(match_id=match_id, driver=request.user)
        return Response(_match_body(match_id, request.user))
