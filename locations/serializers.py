from django.conf import settings
from rest_framework import serializers

from nebengjek.inputs import StrictBooleanField, StrictFloatField


class BeaconSerializer(serializers.Serializer):
    active = StrictBooleanField()


class BeaconOutputSerializer(serializers.Serializer):
    active = serializers.BooleanField()


class LocationInputSerializer(serializers.Serializer):
    """For the schema: the body is validated by locations.inputs.position_parse, the same code as the socket's."""

    lat = StrictFloatField(min_value=-90, max_value=90)
    lng = StrictFloatField(min_value=-180, max_value=180)
    recorded_at = serializers.DateTimeField(required=False)
    accuracy_m = StrictFloatField(required=False, min_value=0)


class LocationOutputSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=["inaccurate", "future", "out_of_order", "too_fast", "no_reference"],
        required=False,
        help_text="Why the position was dropped; present only when accepted is false.",
    )


class NearbyQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    radius_m = serializers.IntegerField(
        required=False, default=settings.NEARBY_DEFAULT_RADIUS_M, min_value=1, max_value=settings.NEARBY_MAX_RADIUS_M
    )
    product = serializers.CharField(
        required=False, max_length=20, help_text="Only drivers whose vehicle serves this product (bike, car)."
    )


class NearbyDriverSerializer(serializers.Serializer):
    id = serializers.CharField()
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    distance_m = serializers.FloatField()


class NearbyOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    drivers = NearbyDriverSerializer(many=True)
