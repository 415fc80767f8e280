"""What the snapshot says about drivers, requests, rides and today's money."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_driver
from gateway.ops.selectors import ops_day_start, ops_snapshot
from locations.services import beacon_set, live_sweep, location_ingest
from rides import services as ride_services
from rides.tests.factories import make_confirmed_ride, make_in_progress_ride

MONAS = (-6.175392, 106.827153)


def test_driver_with_beacon_off_is_not_on_the_map():
    driver = make_driver()
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    snapshot = ops_snapshot()

    assert snapshot["drivers"] == []
    assert snapshot["counters"]["online_drivers"] == 0


def test_driver_whose_position_went_stale_is_not_online():
    driver = make_driver()
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        snapshot = ops_snapshot()

    assert snapshot["counters"]["online_drivers"] == 0
    assert snapshot["drivers"] == []


def test_driver_on_a_ride_is_online_but_busy_and_the_ride_shows_at_the_driver():
    ride = make_in_progress_ride()
    beacon_set(user=ride.driver, active=True)
    live_sweep()  # the factory made the match directly: the sweeper mirrors "busy" from the database
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        assert location_ingest(user=ride.driver, lat=ride.pickup_lat + 0.001, lng=ride.pickup_lng)

        snapshot = ops_snapshot()

    assert snapshot["drivers"][0][0] == str(ride.driver_id)
    assert snapshot["drivers"][0][3] == 1
    assert snapshot["counters"]["available_drivers"] == 0
    assert snapshot["rides"] == [
        [str(ride.id), pytest.approx(ride.pickup_lat + 0.001), pytest.approx(ride.pickup_lng), "in_progress"]
    ]
    assert snapshot["counters"]["rides_in_progress"] == 1


def test_ride_waiting_for_its_driver_counts_as_en_route():
    make_confirmed_ride()

    counters = ops_snapshot()["counters"]

    assert (counters["rides_en_route"], counters["rides_in_progress"]) == (1, 0)


def test_completed_ride_adds_to_todays_count_gmv_and_fee_revenue():
    ride = make_in_progress_ride()
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        location_ingest(user=ride.driver, lat=ride.pickup_lat - 0.01, lng=ride.pickup_lng)  # 1.1 km in a minute
        ride = ride_services.ride_end(ride=ride, user=ride.driver)

    counters = ops_snapshot()["counters"]

    assert counters["completed_today"] == 1
    assert counters["gmv_today"] == ride.charged_amount
    assert counters["revenue_today"] == ride.admin_fee


def test_operators_day_starts_at_midnight_in_jakarta():
    at = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)  # 01:30 on the 26th in Jakarta

    start = ops_day_start(at)

    assert start == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
