"""The live trip: the passenger's socket gets the driver's positions from confirm to end (throttled), the ride's
detail carries the latest, a reconnect gets it on `resume`, and arrival at the pickup is told to both sides once."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from locations.services import live_sweep, location_ingest
from nebengjek.models import Event
from nebengjek.redis import get_live_redis
from rides.live_trip import live_key
from rides.models import Ride
from rides.tests.factories import make_confirmed_ride

db = database_sync_to_async
# The factory's pickup is (-6.2, 106.8); these are about 1.1 km, 555 m and 11 m north of it.
FAR, NEARER, AT_PICKUP = (-6.19, 106.8), (-6.195, 106.8), (-6.1999, 106.8)


async def next_of_type(socket, kind, timeout=5):
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def nothing_more_of(socket, kind, ws_ping_id=99):
    """Everything sent before a ping's ack has arrived: no message of `kind` among it."""
    await socket.send_json_to({"type": "ping", "id": ws_ping_id})
    while True:
        message = await socket.receive_json_from(timeout=5)
        assert message["type"] != kind, message
        if message == {"type": "ack", "id": ws_ping_id}:
            return


# Each point's time, seconds before now: the driver moves at a plausible speed between them.
AGO = {FAR: 300, NEARER: 200, AT_PICKUP: 100}


def drive(ride, point, at=None):
    if at is None:
        at = timezone.now() - timedelta(seconds=AGO.get(point, 0))
    return location_ingest(user=ride.driver, lat=point[0], lng=point[1], recorded_at=at)


async def test_the_passenger_sees_the_driver_approach_with_distance_and_eta(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0
    ride = await db(make_confirmed_ride)()
    passenger = await ws(ride.passenger)

    assert await db(drive)(ride, FAR)
    pushed = await next_of_type(passenger, "ride.driver_location")

    position = pushed["driver_position"]
    assert pushed["ride_id"] == str(ride.id)
    assert "seq" not in pushed
    assert (position["lat"], position["lng"]) == FAR
    assert 1100 <= position["distance_to_pickup_m"] <= 1125
    assert position["eta_to_pickup_s"] == round(position["distance_to_pickup_m"] / (20 / 3.6), 0)


async def test_heading_and_speed_come_from_the_previous_position(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0
    ride = await db(make_confirmed_ride)()
    passenger = await ws(ride.passenger)
    now = timezone.now()

    await db(drive)(ride, FAR, now - timedelta(seconds=200))
    await db(drive)(ride, NEARER, now - timedelta(seconds=100))

    first = await next_of_type(passenger, "ride.driver_location")
    second = await next_of_type(passenger, "ride.driver_location")
    assert first["driver_position"]["heading"] is None
    assert second["driver_position"]["heading"] == pytest.approx(180, abs=0.5)  # due south
    assert second["driver_position"]["speed_mps"] == pytest.approx(5.56, abs=0.05)


async def test_pushes_are_throttled_per_ride_and_the_latest_is_kept(ws, client_for, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 60
    ride = await db(make_confirmed_ride)()
    passenger = await ws(ride.passenger)

    await db(drive)(ride, FAR)
    await db(drive)(ride, NEARER)  # within the interval of the last push: kept, not pushed
    await db(drive)(ride, AT_PICKUP)

    first = await next_of_type(passenger, "ride.driver_location")
    await nothing_more_of(passenger, "ride.driver_location")
    detail = await db(lambda: client_for(ride.passenger).get(f"/api/v1/rides/{ride.id}").json())()
    assert first["driver_position"]["lat"] == FAR[0]
    assert detail["driver_position"]["lat"] == AT_PICKUP[0]


async def test_the_driver_gets_no_location_pushes_and_nobody_else_does_either(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0
    ride = await db(make_confirmed_ride)()
    other = await db(make_confirmed_ride)()
    driver, stranger = await ws(ride.driver), await ws(other.passenger)

    await db(drive)(ride, FAR)

    await nothing_more_of(driver, "ride.driver_location")
    await nothing_more_of(stranger, "ride.driver_location")


def test_the_rides_detail_carries_the_latest_position_and_eta(client_for, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 60
    ride = make_confirmed_ride()
    drive(ride, FAR)
    drive(ride, NEARER)

    body = client_for(ride.passenger).get(f"/api/v1/rides/{ride.id}").json()

    assert (body["driver_position"]["lat"], body["driver_position"]["lng"]) == NEARER
    assert 550 <= body["driver_position"]["distance_to_pickup_m"] <= 560
    assert body["driver_position"]["eta_to_pickup_s"] > 0
    assert body["driver_arrived_at"] is None


def test_after_the_start_the_position_has_no_eta_and_after_the_end_none_at_all(client_for):
    ride = make_confirmed_ride()
    passenger, driver = client_for(ride.passenger), client_for(ride.driver)
    drive(ride, AT_PICKUP, timezone.now() - timedelta(seconds=30))
    assert driver.post(f"/api/v1/rides/{ride.id}/start").status_code == 200
    drive(ride, (-6.1995, 106.8), timezone.now())

    started = passenger.get(f"/api/v1/rides/{ride.id}").json()["driver_position"]
    assert driver.post(f"/api/v1/rides/{ride.id}/end", {}, format="json").status_code == 200
    ended = passenger.get(f"/api/v1/rides/{ride.id}").json()["driver_position"]

    assert started["lat"] == -6.1995 and started["eta_to_pickup_s"] is None
    assert ended is None


async def test_a_reconnecting_passenger_gets_the_latest_position_on_resume(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 60
    ride = await db(make_confirmed_ride)()
    await db(drive)(ride, FAR)
    await db(drive)(ride, NEARER)  # throttled: never pushed
    socket = await ws(ride.passenger)

    await socket.send_json_to({"type": "resume", "after": 1_000_000, "id": "r"})

    latest = await next_of_type(socket, "ride.driver_location")
    assert (latest["driver_position"]["lat"], latest["driver_position"]["lng"]) == NEARER
    assert await next_of_type(socket, "ack") == {"type": "ack", "id": "r", "replayed": 0, "last_seq": 1_000_000}


async def test_confirming_pushes_the_drivers_position_at_once(ws):
    from accounts.tests.factories import make_driver

    driver = await db(make_driver)()
    await db(location_ingest)(user=driver, lat=FAR[0], lng=FAR[1], recorded_at=timezone.now())
    ride_later = db(make_confirmed_ride)
    from accounts.tests.factories import make_passenger

    passenger = await db(make_passenger)()
    socket = await ws(passenger)

    await ride_later(driver=driver, passenger=passenger)

    pushed = await next_of_type(socket, "ride.driver_location")
    assert (pushed["driver_position"]["lat"], pushed["driver_position"]["lng"]) == FAR


async def test_arrival_is_told_to_both_sides_and_stored_once(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0
    ride = await db(make_confirmed_ride)()
    passenger, driver = await ws(ride.passenger), await ws(ride.driver)

    await db(drive)(ride, NEARER)
    await db(drive)(ride, AT_PICKUP)
    await db(drive)(ride, (-6.19995, 106.8))

    to_passenger = await next_of_type(passenger, "ride.driver_arrived")
    to_driver = await next_of_type(driver, "ride.driver_arrived")
    stored = await db(Ride.objects.get)(pk=ride.id)
    assert to_passenger["ride_id"] == to_driver["ride_id"] == str(ride.id)
    assert stored.driver_arrived_at is not None
    assert await db(Event.objects.filter(type="ride.driver_arrived").count)() == 2


async def test_an_arrival_whose_database_write_was_lost_is_recorded_by_the_sweeper(ws, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0
    ride = await db(make_confirmed_ride)()
    passenger = await ws(ride.passenger)
    await db(drive)(ride, NEARER)
    flagged_at = timezone.now() - timedelta(seconds=30)
    # The ingest script flagged the arrival in the ride's live hash; the write to the database never happened.
    await db(get_live_redis().hset)(live_key(ride), "arrived", repr(flagged_at.timestamp()))

    swept = await db(live_sweep)()

    assert swept["arrivals_recorded"] == 1
    told = await next_of_type(passenger, "ride.driver_arrived")
    stored = await db(Ride.objects.get)(pk=ride.id)
    assert told["ride_id"] == str(ride.id) and abs((stored.driver_arrived_at - flagged_at).total_seconds()) < 0.01
    assert (await db(live_sweep)())["arrivals_recorded"] == 0
