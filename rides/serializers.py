"""The ride as clients see it (REST and the `ride.updated` push share this shape) and the rides' inputs."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rides.cancellation import free_waiting_ends_at
from rides.models import Ride


class PointSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()


class RideDriverSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    full_name = serializers.CharField()
    vehicle_type = serializers.SerializerMethodField()
    vehicle_plate = serializers.SerializerMethodField()

    def get_vehicle_type(self, user) -> str | None:
        profile = getattr(user, "driver_profile", None)
        return profile.vehicle_type if profile else None

    def get_vehicle_plate(self, user) -> str | None:
        profile = getattr(user, "driver_profile", None)
        return profile.vehicle_plate if profile else None


class RidePassengerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    full_name = serializers.CharField()


class RideFareSerializer(serializers.Serializer):
    metered_fare = serializers.IntegerField()
    surge_multiplier = serializers.FloatField()
    price_pct = serializers.IntegerField()
    charged_amount = serializers.IntegerField()
    admin_fee = serializers.IntegerField()
    driver_payout = serializers.IntegerField()
    currency = serializers.CharField(default="IDR")


class RideOutputSerializer(serializers.ModelSerializer):
    driver = RideDriverSerializer()
    passenger = RidePassengerSerializer()
    pickup = serializers.SerializerMethodField()
    destination = serializers.SerializerMethodField()
    distance_m = serializers.SerializerMethodField()
    surge_multiplier = serializers.FloatField()
    fare = serializers.SerializerMethodField()
    request_id = serializers.UUIDField(read_only=True)
    product = serializers.SerializerMethodField()
    free_waiting_ends_at = serializers.SerializerMethodField()
    cancellation_fee = serializers.IntegerField(
        allow_null=True, read_only=True, help_text="IDR the passenger owes the driver (late cancel, no-show)"
    )

    class Meta:
        model = Ride
        fields = [
            "id",
            "status",
            "driver",
            "passenger",
            "pickup",
            "destination",
            "distance_m",
            "fare",
            "payment_method",
            "surge_multiplier",
            "request_id",
            "cancelled_by",
            "cancel_reason",
            "end_reason",
            "stale_at",
            "driver_gone_reported_at",
            "driver_arrived_at",
            "created_at",
            "started_at",
            "ended_at",
            "cancelled_at",
            "product",
            "free_waiting_ends_at",
            "cancellation_fee",
            "no_show_reported_at",
        ]

    def to_representation(self, instance):
        """The same dict as the fields above would build (rides/tests/test_ride_output.py pins it), by a plain
        function: the ride is shaped on every transition, twice (the answer and the push), and DRF builds and binds
        the fields of a ModelSerializer anew for each instance."""
        return ride_output(instance)

    def get_product(self, ride) -> str:
        return ride.request.product

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_free_waiting_ends_at(self, ride) -> str | None:
        """Once the driver arrived: when the free waiting ends (a later cancellation or no-show costs a fee)."""
        ends_at = free_waiting_ends_at(driver_arrived_at=ride.driver_arrived_at)
        return serializers.DateTimeField().to_representation(ends_at) if ends_at else None

    def get_pickup(self, ride) -> PointSerializer:
        return {"lat": ride.pickup_lat, "lng": ride.pickup_lng}

    def get_destination(self, ride) -> PointSerializer:
        return {"lat": ride.destination_lat, "lng": ride.destination_lng}

    def get_distance_m(self, ride) -> float:
        return round(ride.distance_m, 2)

    def get_fare(self, ride) -> RideFareSerializer(allow_null=True):
        return _fare(ride)


def _fare(ride: Ride) -> dict[str, Any] | None:
    if ride.charged_amount is None:
        return None
    return {
        "metered_fare": ride.metered_fare,
        "surge_multiplier": float(ride.surge_multiplier),
        "price_pct": ride.price_pct,
        "charged_amount": ride.charged_amount,
        "admin_fee": ride.admin_fee,
        "driver_payout": ride.driver_payout,
        "currency": "IDR",
    }


class DriverPositionSerializer(serializers.Serializer):
    """The driver's latest accepted position on a live ride (`ride.driver_location` and the ride's detail)."""

    lat = serializers.FloatField()
    lng = serializers.FloatField()
    heading = serializers.FloatField(allow_null=True, help_text="Degrees clockwise from north; null when unknown.")
    speed_mps = serializers.FloatField(allow_null=True, help_text="From the previous position; null when unknown.")
    recorded_at = serializers.DateTimeField()
    distance_to_pickup_m = serializers.IntegerField(allow_null=True, help_text="Straight line; null after the start.")
    eta_to_pickup_s = serializers.IntegerField(
        allow_null=True, help_text="Straight-line distance over LIVE_TRIP_CITY_SPEED_KMH; null after the start."
    )


_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def _person(user, *, with_vehicle: bool) -> dict[str, Any]:
    shaped: dict[str, Any] = {"id": str(user.pk), "full_name": str(user.full_name)}
    if with_vehicle:
        profile = getattr(user, "driver_profile", None)
        shaped["vehicle_type"] = profile.vehicle_type if profile else None
        shaped["vehicle_plate"] = profile.vehicle_plate if profile else None
    return shaped


def _text(value) -> str | None:
    return None if value is None else str(value)


def _int(value) -> int | None:
    return None if value is None else int(value)


def ride_output(ride: Ride) -> dict[str, Any]:
    """RideOutputSerializer's representation of `ride`, written out."""
    ends_at = free_waiting_ends_at(driver_arrived_at=ride.driver_arrived_at)
    return {
        "id": str(ride.pk),
        "status": _text(ride.status),
        "driver": _person(ride.driver, with_vehicle=True),
        "passenger": _person(ride.passenger, with_vehicle=False),
        "pickup": {"lat": ride.pickup_lat, "lng": ride.pickup_lng},
        "destination": {"lat": ride.destination_lat, "lng": ride.destination_lng},
        "distance_m": round(ride.distance_m, 2),
        "fare": _fare(ride),
        "payment_method": _text(ride.payment_method),
        "surge_multiplier": None if ride.surge_multiplier is None else float(ride.surge_multiplier),
        "request_id": _text(ride.request_id),
        "cancelled_by": _text(ride.cancelled_by),
        "cancel_reason": _text(ride.cancel_reason),
        "end_reason": _text(ride.end_reason),
        "stale_at": _datetime(ride.stale_at),
        "driver_gone_reported_at": _datetime(ride.driver_gone_reported_at),
        "driver_arrived_at": _datetime(ride.driver_arrived_at),
        "created_at": _datetime(ride.created_at),
        "started_at": _datetime(ride.started_at),
        "ended_at": _datetime(ride.ended_at),
        "cancelled_at": _datetime(ride.cancelled_at),
        "product": ride.request.product,
        "free_waiting_ends_at": _datetime(ends_at) if ends_at else None,
        "cancellation_fee": _int(ride.cancellation_fee),
        "no_show_reported_at": _datetime(ride.no_show_reported_at),
    }


class RideDetailOutputSerializer(RideOutputSerializer):
    """GET /api/v1/rides/{id}: the ride, the driver's arrival and, while it is live, the driver's latest position."""

    driver_position = serializers.SerializerMethodField()

    class Meta(RideOutputSerializer.Meta):
        fields = [*RideOutputSerializer.Meta.fields, "driver_position"]

    def to_representation(self, instance):
        return {**ride_output(instance), "driver_position": self.get_driver_position(instance)}

    def get_driver_position(self, ride) -> DriverPositionSerializer(allow_null=True):
        from rides.live_trip import driver_position_get

        return driver_position_get(ride)


class RideEndInputSerializer(serializers.Serializer):
    price_pct = serializers.JSONField(
        required=False, allow_null=True
    )  # range and type checked by the service: invalid_price_pct


class RideCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
