from drf_spectacular.utils import extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from rides import services
from rides.selectors import ride_get_visible, ride_list_for_user
from rides.serializers import RideCancelInputSerializer, RideEndInputSerializer, RideOutputSerializer


class RideListApi(APIView):
    @extend_schema(responses={200: RideOutputSerializer(many=True)})
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(ride_list_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(RideOutputSerializer(page, many=True).data)


class RideDetailApi(APIView):
    @extend_schema(responses={200: RideOutputSerializer})
    def get(self, request, ride_id):
        return Response(RideOutputSerializer(ride_get_visible(ride_id=ride_id, user=request.user)).data)


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
