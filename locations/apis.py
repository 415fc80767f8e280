from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from locations import services
from locations.inputs import coordinates_parse, position_parse
from locations.selectors import drivers_available_near
from locations.serializers import (
    BeaconOutputSerializer,
    BeaconSerializer,
    LocationInputSerializer,
    LocationOutputSerializer,
    NearbyOutputSerializer,
    NearbyQuerySerializer,
)
from locations.sources import live_sources
from nebengjek.errors import CommonError, DomainError


class DriverBeaconApi(APIView):
    @extend_schema(request=BeaconSerializer, responses={200: BeaconOutputSerializer})
    def post(self, request):
        data = BeaconSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        active = services.beacon_set(user=request.user, active=data.validated_data["active"])
        return Response(BeaconOutputSerializer({"active": active}).data)


class LocationIngestApi(APIView):
    @extend_schema(request=LocationInputSerializer, responses={202: LocationOutputSerializer})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise DomainError(CommonError.INVALID_INPUT, "The body is a JSON object.")
        position = position_parse(request.data)
        outcome = services.location_record(
            user_id=request.user.pk,
            lat=position.lat,
            lng=position.lng,
            recorded_at=position.recorded_at,
            accuracy_m=position.accuracy_m,
        )
        return Response(LocationOutputSerializer(services.location_ack(outcome)).data, status=status.HTTP_202_ACCEPTED)


class DriversNearbyApi(APIView):
    """Requests with a valid token and query are answered by gateway.nearby.NearbyFastPath before Django (same
    selector and body); this view answers the rest (errors, a `product` filter) and test clients."""

    @extend_schema(parameters=[NearbyQuerySerializer], responses={200: NearbyOutputSerializer})
    def get(self, request):
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        lat, lng = coordinates_parse(query.validated_data)
        product = query.validated_data.get("product")
        vehicle_types = live_sources().product_vehicle_types(code=product) if product else None
        drivers = drivers_available_near(
            lat=lat, lng=lng, radius_m=query.validated_data["radius_m"], vehicle_types=vehicle_types
        )
        return Response(NearbyOutputSerializer({"count": len(drivers), "drivers": drivers}).data)
