"""What the database itself refuses about rides and tracks, whatever code writes to them."""

import pytest
from django.db import IntegrityError, connection, transaction

from rides.models import Ride, TrackPoint
from rides.tests.factories import make_in_progress_ride


def _refused(write):
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        write()
    return str(refused.value)


def test_a_second_track_point_of_a_ride_at_the_same_time_is_refused():
    ride = make_in_progress_ride()
    start = TrackPoint.objects.get(ride=ride)

    error = _refused(lambda: TrackPoint.objects.create(ride=ride, lat=-6.3, lng=106.8, recorded_at=start.recorded_at))

    assert "trackpoint_one_per_ride_time" in error or "UNIQUE" in error


def test_a_negative_distance_is_refused():
    ride = make_in_progress_ride()

    error = _refused(lambda: Ride.objects.filter(pk=ride.pk).update(distance_m=-0.01))

    assert "ride_distance_not_negative" in error


def test_a_charge_above_the_metered_fare_is_refused():
    ride = make_in_progress_ride()

    error = _refused(
        lambda: Ride.objects.filter(pk=ride.pk).update(
            metered_fare=3000, price_pct=100, charged_amount=3001, admin_fee=150, driver_payout=2851
        )
    )

    assert "ride_charge_within_metered_fare" in error


def test_an_admin_fee_above_the_charge_is_refused():
    ride = make_in_progress_ride()

    error = _refused(
        lambda: Ride.objects.filter(pk=ride.pk).update(
            metered_fare=3000, price_pct=100, charged_amount=100, admin_fee=101, driver_payout=-1
        )
    )

    # PostgreSQL names the first failing CHECK in name order; SQLite in table order, where an older CHECK comes first
    # (fee + payout = charge with payout >= 0 implies this rule too).
    assert "ride_admin_fee_within_charge" in error or (
        connection.vendor == "sqlite" and "ride_fee_plus_payout_is_charge" in error
    )
