from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from rides import services
from rides.selectors import ride_get_visible, ride_list_for_user
from rides.serializers import (
    RideCancelInputSerializer,
    RideDetailOutputSerializer,
    RideEndInputSerializer,
    RideOutputSerializer,
)
from rides.unattended import ride_report_driver_gone


class RideListApi(ListAPIView):
    """A page of the caller's rides; a ListAPIView so that the schema documents the page, not a bare array."""

    serializer_class = RideOutputSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self):
        return ride_list_for_user(user=self.request.user)  # type: ignore[arg-type]  # authenticated


class RideDetailApi(APIView):
    @extend_schema(responses={200: RideDetailOutputSerializer})
    def get(self, request, ride_id):
        return Response(RideDetailOutputSerializer(ride_get_visible(ride_id=ride_id, user=request.user)).data)


class RideStartApi(APIView):
    @extend_schema(request=None, responses={200: RideOutputSerializer})
    def post(self, request, ride_id):
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        return Response(RideOutputSerializer(services.ride_start(ride=ride, user=request.user)).data)


class RideEndApi(APIView):
    @extend_schema(request=RideEndInputSerializer, responses={200: RideOutputSerializer})
    def post(self, request, ride_id):
        data = RideEndInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        ride = services.ride_end(ride=ride, user=request.user, price_pct=data.validated_data.get("price_pct", 100))
        return Response(RideOutputSerializer(ride).data)


class RideCancelApi(APIView):
    @extend_schema(request=RideCancelInputSerializer, responses={200: RideOutputSerializer})
    def post(self, request, ride_id):
        data = RideCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        ride = services.ride_cancel_by_user(ride=ride, user=request.user, reason=data.validated_data["reason"])
        return Response(RideOutputSerializer(ride).data)


class RideNoShowApi(APIView):
    """The driver waited at the pickup past the free window: the passenger did not show (a cancellation fee)."""

    @extend_schema(request=None, responses={200: RideOutputSerializer})
    def post(self, request, ride_id):
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        ride = services.ride_report_no_show(ride=ride, user=request.user)
        return Response(RideOutputSerializer(ride).data)


class RideReportDriverGoneApi(APIView):
    """The passenger of a ride in progress says the driver is gone (rides/unattended.py)."""

    @extend_schema(request=None, responses={200: RideOutputSerializer})
    def post(self, request, ride_id):
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        return Response(RideOutputSerializer(ride_report_driver_gone(ride=ride, user=request.user)).data)
