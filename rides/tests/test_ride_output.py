"""The ride's shape is written out as a plain function (rides.serializers.ride_output) for speed: it must equal what
RideOutputSerializer's declared fields build, in every state, to the JSON type of each value."""

import json
from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from rides import services
from rides.selectors import ride_get_for_output
from rides.serializers import RideDetailOutputSerializer, RideOutputSerializer
from rides.tests.factories import make_confirmed_ride, make_in_progress_ride


def _by_fields(ride):
    """What DRF builds from the serializer's declared and model fields (ModelSerializer's own to_representation)."""
    return serializers.ModelSerializer.to_representation(RideOutputSerializer(ride), ride)


def _same(ride):
    written_out = RideOutputSerializer(ride).data
    assert json.dumps(written_out, sort_keys=True) == json.dumps(_by_fields(ride), sort_keys=True)
    return written_out


def test_a_confirmed_ride_is_shaped_as_the_serializer_fields_shape_it():
    ride = ride_get_for_output(make_confirmed_ride().pk)

    assert _same(ride)["status"] == "driver_en_route"


def test_a_completed_ride_with_its_fare_is_shaped_as_the_serializer_fields_shape_it():
    ride = make_in_progress_ride()
    services.ride_end(ride=ride, user=ride.driver, price_pct=90)

    shaped = _same(ride_get_for_output(ride.pk))

    assert shaped["fare"]["price_pct"] == 90


def test_a_cancelled_ride_with_every_time_set_is_shaped_as_the_serializer_fields_shape_it():
    ride = make_confirmed_ride()
    services.ride_cancel_by_user(ride=ride, user=ride.passenger, reason="changed my mind")
    ride = ride_get_for_output(ride.pk)
    now = timezone.now()
    ride.driver_arrived_at = now - timedelta(minutes=3)
    ride.stale_at = ride.driver_gone_reported_at = ride.no_show_reported_at = now
    ride.cancellation_fee = 5000

    shaped = _same(ride)

    assert shaped["cancel_reason"] == "changed my mind"
    assert shaped["free_waiting_ends_at"] is not None


def test_a_driver_without_a_profile_is_shaped_with_no_vehicle():
    ride = ride_get_for_output(make_confirmed_ride().pk)
    ride.driver.driver_profile = None

    assert _same(ride)["driver"]["vehicle_type"] is None


def test_the_detail_adds_the_driver_position_to_the_same_shape():
    ride = ride_get_for_output(make_in_progress_ride().pk)

    detail = RideDetailOutputSerializer(ride).data

    assert set(detail) == {*_by_fields(ride), "driver_position"}
    assert {key: value for key, value in detail.items() if key != "driver_position"} == RideOutputSerializer(ride).data
