"""The matching endpoints' inputs, and the client shapes of a request, a proposal and a match.

The output serializers are shared by REST and the pushes (matching/events.py), so a match looks the same in both.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import UserRatingOutputSerializer, rating_payload
from matching.models import MatchStatus, PaymentMethod, RequestStatus
from nebengjek.inputs import StrictFloatField
from rides.serializers import PointSerializer, RideDriverSerializer, RidePassengerSerializer


class PointInputSerializer(serializers.Serializer):
    lat = StrictFloatField(min_value=-90, max_value=90)
    lng = StrictFloatField(min_value=-180, max_value=180)


class RequestCreateInputSerializer(serializers.Serializer):
    pickup = PointInputSerializer()
    destination = PointInputSerializer()
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    product = serializers.CharField(
        max_length=20,
        required=False,
        default=None,
        allow_null=True,
        help_text="A product code (bike, car); default bike. Unknown: 400 unknown_product.",
    )


class RequestCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class FareLineSerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text="base | distance | time_of_day | surge | minimum_top_up | waiting | price_adjustment | admin_fee"
    )
    amount = serializers.IntegerField(help_text="IDR")


class FareEstimateOutputSerializer(serializers.Serializer):
    distance_m = serializers.IntegerField(source="estimate_distance_m")
    amount = serializers.IntegerField(source="estimate_amount", help_text="IDR")
    surge_multiplier = serializers.FloatField()


class FareBreakdownOutputSerializer(serializers.Serializer):
    """The estimate's lines (they sum to fare_estimate.amount) and the fare policy version it was quoted with."""

    product = serializers.CharField()
    policy_version = serializers.IntegerField(help_text="0: the built-in terms of settings")
    lines = FareLineSerializer(many=True)


ESTIMATE_LINE_KINDS = ("base", "distance", "time_of_day", "surge", "minimum_top_up", "waiting")


def breakdown_payload(request) -> dict:
    """The request's estimate lines (a request made before fare lines existed has none)."""
    lines = request.estimate_lines or {}
    return {
        "product": request.product,
        "policy_version": lines.get("policy_version", 0),
        "lines": [{"kind": kind, "amount": lines[kind]} for kind in ESTIMATE_LINE_KINDS if kind in lines],
    }


class SurgeOutputSerializer(serializers.Serializer):
    cell = serializers.CharField(source="surge_cell")
    supply = serializers.IntegerField(source="surge_supply")
    demand = serializers.IntegerField(source="surge_demand")


class RatedUserMixin(serializers.Serializer):
    rating = serializers.SerializerMethodField()

    def get_rating(self, user) -> UserRatingOutputSerializer(allow_null=True):
        return rating_payload(user)


class MatchPassengerOutputSerializer(RidePassengerSerializer, RatedUserMixin):
    """The passenger as a proposed driver sees them."""


class MatchDriverOutputSerializer(RideDriverSerializer, RatedUserMixin):
    """The driver as the passenger sees them once the driver accepted."""


class TripFieldsMixin(serializers.Serializer):
    """What a request asks for, read from the RideRequest that `trip_of(instance)` names (cheap: no nested
    serializer per object, the pushes build these after commit on the request path)."""

    pickup = serializers.SerializerMethodField()
    destination = serializers.SerializerMethodField()
    fare_estimate = serializers.SerializerMethodField()
    fare_breakdown = serializers.SerializerMethodField()
    payment_method = serializers.SerializerMethodField()

    def trip_of(self, instance):
        return instance

    def get_pickup(self, instance) -> PointSerializer:
        request = self.trip_of(instance)
        return {"lat": request.pickup_lat, "lng": request.pickup_lng}

    def get_destination(self, instance) -> PointSerializer:
        request = self.trip_of(instance)
        return {"lat": request.destination_lat, "lng": request.destination_lng}

    def get_fare_estimate(self, instance) -> FareEstimateOutputSerializer:
        request = self.trip_of(instance)
        return {
            "distance_m": request.estimate_distance_m,
            "amount": request.estimate_amount,
            "surge_multiplier": float(request.surge_multiplier),
        }

    def get_fare_breakdown(self, instance) -> FareBreakdownOutputSerializer:
        return breakdown_payload(self.trip_of(instance))

    @extend_schema_field(serializers.ChoiceField(choices=PaymentMethod.choices))
    def get_payment_method(self, instance) -> str:
        return self.trip_of(instance).payment_method


class ProposalOutputSerializer(TripFieldsMixin):
    """A match as its driver sees it while it is offered (`match.proposal`). Give context `ride_request` when the
    match's request is not loaded on it (`request.passenger` loaded)."""

    id = serializers.UUIDField()
    request_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=MatchStatus.choices)
    batch_no = serializers.IntegerField()
    passenger = serializers.SerializerMethodField()
    distance_to_pickup_m = serializers.IntegerField()
    expires_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Proposal"

    def trip_of(self, match):
        return self.context.get("ride_request") or match.request

    def to_representation(self, instance):
        """The fields above, written out (matching/tests/test_output_shapes.py pins them equal): a batch's proposals
        are shaped on the request path, and DRF copies and binds every declared field for each one."""
        return proposal_output(instance, self.trip_of(instance))

    def get_passenger(self, match) -> MatchPassengerOutputSerializer:
        return MatchPassengerOutputSerializer(self.trip_of(match).passenger).data


class MatchOutputSerializer(ProposalOutputSerializer):
    """A match with both sides (`match.accepted`, `match.confirmed`, GET /matches/{id}, a request's `match`):
    `match.driver.driver_profile` loaded too."""

    driver = serializers.SerializerMethodField()
    confirm_expires_at = serializers.SerializerMethodField()

    class Meta:
        ref_name = "Match"

    def to_representation(self, instance):
        return match_output(instance, self.trip_of(instance))

    def get_driver(self, match) -> MatchDriverOutputSerializer:
        return MatchDriverOutputSerializer(match.driver).data

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_confirm_expires_at(self, match) -> str | None:
        return _iso(self.trip_of(match).confirm_deadline)


class MatchOutcomeOutputSerializer(serializers.Serializer):
    """A short notice that a proposal is gone (`match.cancelled`, `match.expired`)."""

    id = serializers.UUIDField()
    request_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=MatchStatus.choices)
    reason = serializers.SerializerMethodField()

    class Meta:
        ref_name = "MatchOutcome"

    @extend_schema_field(serializers.CharField(help_text="taken | expired | confirm_timeout | passenger_cancelled"))
    def get_reason(self, match) -> str:
        return self.context["reason"]


class RideRequestOutputSerializer(TripFieldsMixin):
    """The request as its passenger sees it. Context: `match` (the accepted or confirmed one, with its driver's
    profile) and `ride_id`, when there are any."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    product = serializers.CharField()
    surge = SurgeOutputSerializer(source="*")
    match = serializers.SerializerMethodField()
    ride_id = serializers.SerializerMethodField()
    confirm_expires_at = serializers.DateTimeField(source="confirm_deadline", allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RideRequest"

    def to_representation(self, instance):
        return request_output(instance, match=self.context.get("match"), ride_id=self.context.get("ride_id"))

    def get_match(self, request) -> MatchOutputSerializer(allow_null=True):
        match = self.context.get("match")
        return MatchOutputSerializer(match, context={"ride_request": request}).data if match else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_ride_id(self, request) -> str | None:
        ride_id = self.context.get("ride_id")
        return str(ride_id) if ride_id else None


_DATETIME = serializers.DateTimeField()


def _iso(moment) -> str | None:
    return _DATETIME.to_representation(moment) if moment else None


def _text(value) -> str | None:
    return None if value is None else str(value)


def _int(value) -> int | None:
    return None if value is None else int(value)


def _trip(request) -> dict:
    return {
        "pickup": {"lat": request.pickup_lat, "lng": request.pickup_lng},
        "destination": {"lat": request.destination_lat, "lng": request.destination_lng},
        "fare_estimate": {
            "distance_m": request.estimate_distance_m,
            "amount": request.estimate_amount,
            "surge_multiplier": float(request.surge_multiplier),
        },
        "fare_breakdown": breakdown_payload(request),
        "payment_method": request.payment_method,
    }


def _person(user, *, with_vehicle: bool) -> dict:
    shaped: dict = {"id": str(user.pk), "full_name": str(user.full_name)}
    if with_vehicle:
        profile = getattr(user, "driver_profile", None)
        shaped["vehicle_type"] = profile.vehicle_type if profile else None
        shaped["vehicle_plate"] = profile.vehicle_plate if profile else None
    shaped["rating"] = rating_payload(user)
    return shaped


def proposal_output(match, request) -> dict:
    """ProposalOutputSerializer's shape of `match`, whose request (passenger loaded) is `request`."""
    return {
        **_trip(request),
        "id": str(match.pk),
        "request_id": _text(match.request_id),
        "status": _text(match.status),
        "batch_no": _int(match.batch_no),
        "passenger": _person(request.passenger, with_vehicle=False),
        "distance_to_pickup_m": _int(match.distance_to_pickup_m),
        "expires_at": _iso(match.expires_at),
    }


def match_output(match, request) -> dict:
    """MatchOutputSerializer's shape: the proposal's, the driver and the confirm deadline."""
    return {
        **proposal_output(match, request),
        "driver": _person(match.driver, with_vehicle=True),
        "confirm_expires_at": _iso(request.confirm_deadline),
    }


def request_output(request, *, match=None, ride_id=None) -> dict:
    """RideRequestOutputSerializer's shape of `request` (with its accepted or confirmed match, its ride's id)."""
    return {
        **_trip(request),
        "id": str(request.pk),
        "status": _text(request.status),
        "product": _text(request.product),
        "surge": {
            "cell": _text(request.surge_cell),
            "supply": _int(request.surge_supply),
            "demand": _int(request.surge_demand),
        },
        "match": match_output(match, request) if match else None,
        "ride_id": str(ride_id) if ride_id else None,
        "confirm_expires_at": _iso(request.confirm_deadline),
        "created_at": _iso(request.created_at),
    }
