"""The page's charts: requests, completed rides, match rate and mean pickup distance per interval of a time range,
from the same tables as the counters, bucketed the same way on PostgreSQL and SQLite."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from accounts.tests.factories import make_passenger
from gateway.ops.selectors import ops_series
from gateway.ops.tests.test_ops_page import staff_client
from matching.models import Match, RequestStatus, RideRequest
from rides import services as ride_services
from rides.tests.factories import make_confirmed_ride, make_in_progress_ride

NOW = datetime(2026, 12, 6, 10, 0, 30, tzinfo=UTC)


def at(hh_mm_ss):
    hour, minute, second = (int(part) for part in hh_mm_ss.split(":"))
    return NOW.replace(hour=hour, minute=minute, second=second)


def confirmed_ride_at(moment, *, pickup_distance_m=0):
    """A request confirmed into a ride at `moment`; its match was proposed `pickup_distance_m` from the pickup."""
    with time_machine.travel(moment, tick=False):
        ride = make_confirmed_ride()
    Match.objects.filter(pk=ride.match_id).update(distance_to_pickup_m=pickup_distance_m)
    return ride


def unmatched_request_at(moment):
    """A request that found no driver: it counts as a request, not as a match."""
    with time_machine.travel(moment, tick=False):
        return RideRequest.objects.create(
            passenger=make_passenger(),
            status=RequestStatus.NO_DRIVER,
            is_open=False,
            pickup_lat=-6.2,
            pickup_lng=106.8,
            destination_lat=-6.21,
            destination_lng=106.8,
            estimate_distance_m=1112,
            estimate_amount=3336,
            batch_no=1,
            radius_m=1000,
        )


def completed_ride(*, confirmed, ended):
    with time_machine.travel(confirmed, tick=False):
        ride = make_in_progress_ride()
    with time_machine.travel(ended, tick=False):
        return ride_services.ride_end(ride=ride, user=ride.driver)


def bucket_of(hh_mm, series):
    """The index of the bucket that starts at hh:mm on the test's day."""
    return series["buckets"].index(f"2026-12-06T{hh_mm}:00Z")


def test_fifteen_minutes_are_fifteen_minute_buckets_ending_with_the_current_one():
    series = ops_series(range_name="15m", now=NOW)

    assert series["range"] == "15m"
    assert series["step_seconds"] == 60
    assert series["buckets"][0] == "2026-12-06T09:46:00Z"
    assert series["buckets"][-1] == "2026-12-06T10:00:00Z"
    assert len(series["buckets"]) == 15
    assert series["requests"] == [0] * 15
    assert series["completed"] == [0] * 15
    assert series["match_rate"] == [None] * 15
    assert series["mean_pickup_m"] == [None] * 15


def test_requests_matches_and_pickup_distance_fall_in_the_minute_they_happened():
    confirmed_ride_at(at("09:50:10"), pickup_distance_m=400)
    unmatched_request_at(at("09:50:20"))
    confirmed_ride_at(at("09:50:59"), pickup_distance_m=602)
    unmatched_request_at(at("09:53:00"))
    unmatched_request_at(at("09:40:00"))  # before the range

    series = ops_series(range_name="15m", now=NOW)

    first, later = bucket_of("09:50", series), bucket_of("09:53", series)
    assert series["requests"][first] == 3
    assert series["match_rate"][first] == pytest.approx(2 / 3, abs=1e-4)
    assert series["mean_pickup_m"][first] == 501  # (400 + 602) / 2, rounded to the metre
    assert series["requests"][later] == 1
    assert series["match_rate"][later] == 0
    assert series["mean_pickup_m"][later] is None
    assert sum(series["requests"]) == 4


def test_completed_ride_counts_in_the_minute_it_ended():
    completed_ride(confirmed=at("09:55:05"), ended=at("09:59:30"))

    series = ops_series(range_name="15m", now=NOW)

    assert series["completed"][bucket_of("09:59", series)] == 1
    assert sum(series["completed"]) == 1
    assert series["requests"][bucket_of("09:55", series)] == 1
    assert series["match_rate"][bucket_of("09:55", series)] == 1


def test_an_hour_is_thirty_buckets_of_two_minutes_aligned_on_even_minutes():
    confirmed_ride_at(at("09:21:10"), pickup_distance_m=250)
    confirmed_ride_at(at("09:20:50"), pickup_distance_m=350)

    series = ops_series(range_name="1h", now=NOW)

    assert series["step_seconds"] == 120
    assert len(series["buckets"]) == 30
    assert series["buckets"][-1] == "2026-12-06T10:00:00Z"
    bucket = bucket_of("09:20", series)
    assert series["requests"][bucket] == 2
    assert series["mean_pickup_m"][bucket] == 300


def test_staff_gets_the_series_of_the_range_asked_for():
    client, _ = staff_client()
    confirmed_ride_at(at("09:50:10"), pickup_distance_m=400)

    with time_machine.travel(NOW, tick=False):
        body = client.get("/ops/series", {"range": "15m"}).json()

    assert body["range"] == "15m"
    assert body["requests"][bucket_of("09:50", body)] == 1
    assert set(body) == {
        "range",
        "step_seconds",
        "from",
        "to",
        "buckets",
        "requests",
        "completed",
        "match_rate",
        "mean_pickup_m",
    }


def test_series_default_to_the_last_hour():
    body = staff_client()[0].get("/ops/series").json()

    assert (body["range"], len(body["buckets"])) == ("1h", 30)


def test_unknown_range_is_a_400_naming_the_ranges_offered():
    response = staff_client()[0].get("/ops/series", {"range": "2d"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == {"range": ["15m", "1h", "6h", "24h"]}


def test_non_staff_user_gets_no_series():
    client = Client()
    client.force_login(make_passenger())

    response = client.get("/ops/series")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
