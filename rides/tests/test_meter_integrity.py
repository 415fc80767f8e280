"""The meter's integrity: a fare is earned by a plausible path, whatever Redis lost, and never beyond the cap."""

import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, connections
from prometheus_client import REGISTRY

from accounts.models import User
from accounts.services import tokens_issue
from locations import live
from locations.live import last_position_key
from locations.services import live_sweep
from nebengjek.redis import get_live_redis
from rides.meter import StreamPoint
from rides.models import Ride, TrackPoint
from rides.services import rides_track_append
from rides.tasks import track_ingest
from rides.tests.conftest import T0
from tests.reliability.test_database_trouble import writes_block_on

ONE_KM_DEG = 0.008993  # 1,000.0 m of latitude
# The factory's pickup (-6.2, 106.8) -> destination (-6.21, 106.8) is 1,111.95 m: cap 3 x 1,111.95 + 2,000 m.
CAP_M = 3 * 1111.950802 + 2000


def _last_position_gone(scene):
    """The driver's previous position is no longer in Redis (expired after an hour of silence, or lost)."""
    get_live_redis().delete(last_position_key(scene.ride.driver_id))


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def _distance(ride_id):
    return Ride.objects.get(pk=ride_id).distance_m


def _capped_total():
    return REGISTRY.get_sample_value("nebengjek_ride_distance_capped_total") or 0


async def _socket_location(user, lat, lng):
    """Send one location over the socket; returns the ack's `accepted`."""
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from nebengjek.asgi import application

    token = (await database_sync_to_async(tokens_issue)(user=user))["access"]
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
    assert (await socket.connect(timeout=5))[0]
    try:
        await socket.send_json_to({"type": "location", "id": 1, "lat": lat, "lng": lng})
        reply = await socket.receive_json_from(timeout=5)
        assert reply["type"] == "ack", reply
        return reply["accepted"]
    finally:
        await socket.disconnect(timeout=2)


def socket_location(user, lat, lng):
    return async_to_sync(_socket_location)(user, lat, lng)


# --- plausibility across any gap -------------------------------------------------------------------------


def test_after_the_drivers_last_position_is_gone_a_point_1_degree_away_is_dropped(scene):
    scene.started_at_pickup()
    scene.at(60)
    assert scene.drive(-6.21, 106.8) is True
    _last_position_gone(scene)
    scene.at(61)

    assert scene.drive(-7.21, 106.8) is False  # 111 km from the ride's last point in a minute

    assert scene.end().json()["distance_m"] == 1111.95


def test_after_the_drivers_last_position_is_gone_a_socket_point_1_degree_away_is_dropped(scene):
    scene.started_at_pickup()
    _last_position_gone(scene)
    scene.at(61)

    assert socket_location(User.objects.get(pk=scene.ride.driver_id), -7.2, 106.8) is False

    assert scene.end().json()["distance_m"] == 0


def test_after_the_drivers_last_position_is_gone_a_plausible_point_counts_from_the_rides_last_point(scene):
    scene.started_at_pickup()
    scene.at(60)
    assert scene.drive(-6.21, 106.8) is True
    track_ingest()
    _last_position_gone(scene)
    scene.at(120)

    assert scene.drive(-6.22, 106.8) is True

    assert scene.end().json()["distance_m"] == 2223.9


def test_the_meter_refuses_a_point_implying_more_than_200_kmh_from_the_rides_last_point(scene):
    scene.started_at_pickup()

    applied = rides_track_append(
        points_by_ride={str(scene.ride.id): [StreamPoint(lat=-7.2, lng=106.8, recorded_at=at(61))]}
    )

    assert applied == 0
    assert _distance(scene.ride.id) == 0
    assert TrackPoint.objects.filter(ride_id=scene.ride.id).count() == 1


def test_the_meter_keeps_the_plausible_points_of_a_batch_and_judges_each_against_the_last_kept_one(scene):
    scene.started_at_pickup()

    applied = rides_track_append(
        points_by_ride={
            str(scene.ride.id): [
                StreamPoint(lat=-6.21, lng=106.8, recorded_at=at(60)),
                StreamPoint(lat=-6.5, lng=106.8, recorded_at=at(61)),  # 32 km in a second
                StreamPoint(lat=-6.22, lng=106.8, recorded_at=at(120)),
            ]
        }
    )

    assert applied == 2
    assert _distance(scene.ride.id) == pytest.approx(2223.9, abs=0.01)


@pytest.mark.parametrize(
    "lat,lng,seconds,merged",
    [
        (-6.205, 106.801, 30, True),  # halfway, at half the time
        (-7.2, 106.8, 30, False),  # 110 km from both neighbours in 30 s
        (-6.2, 106.8, 59, False),  # still at the pickup, then 1.1 km in the last second
    ],
    ids=["plausible", "implausible_after_the_previous", "implausible_before_the_next"],
)
def test_a_late_point_is_merged_into_the_track_only_if_plausible_against_both_neighbours(
    scene, lat, lng, seconds, merged
):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    track_ingest()

    applied = rides_track_append(
        points_by_ride={str(scene.ride.id): [StreamPoint(lat=lat, lng=lng, recorded_at=at(seconds))]}
    )

    assert applied == (1 if merged else 0)
    assert TrackPoint.objects.filter(ride_id=scene.ride.id).count() == (3 if merged else 2)
    if not merged:
        assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)


def test_a_tracking_entry_outliving_its_ride_neither_blocks_nor_meters_the_drivers_positions(scene):
    scene.started_at_pickup()
    scene.end()
    get_live_redis().hset(_tracking(scene), str(scene.ride.driver_id), str(scene.ride.id))  # clear was lost
    _last_position_gone(scene)
    scene.at(60)

    assert scene.drive(-6.21, 106.8) is True

    assert not get_live_redis().hexists(_tracking(scene), str(scene.ride.driver_id))
    assert _distance(scene.ride.id) == 0


# --- the hard cap ------------------------------------------------------------------------------------------


def _drive_km_every_20_s(scene, km, from_s=0):
    """Drive due south 1 km every 20 seconds (180 km/h: plausible) for `km` km."""
    for i in range(1, km + 1):
        scene.at(from_s + 20 * i)
        assert scene.drive(-6.2 - i * ONE_KM_DEG, 106.8) is True


def test_a_distance_beyond_3x_the_straight_line_plus_2_km_is_capped_for_the_fare_and_flagged(scene):
    before = _capped_total()
    scene.started_at_pickup()
    _drive_km_every_20_s(scene, 10)

    body = scene.end().json()

    assert body["distance_m"] == round(CAP_M, 2)
    assert body["fare"]["metered_fare"] == 16008  # 5.33585 km x 3,000
    receipt = scene.passenger.get(f"{scene.url}/receipt").json()
    assert receipt["distance_capped"] is True
    assert receipt["distance_before_cap_m"] == pytest.approx(10_000, abs=1)
    assert receipt["distance_m"] == round(CAP_M, 2)
    assert _capped_total() == before + 1


def test_a_point_1_degree_away_after_hours_of_silence_is_plausible_but_capped(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    track_ingest()
    _last_position_gone(scene)
    scene.at(3 * 3600)
    scene.driver = scene.client_for(scene.ride.driver)  # signed in again since

    assert scene.drive(-7.21, 106.8) is True  # 111 km in three hours

    fare = scene.end().json()["fare"]
    assert fare["metered_fare"] == 16008  # not 336,921


def test_a_ride_within_the_cap_is_not_flagged(scene):
    scene.started_at_pickup()
    _drive_km_every_20_s(scene, 5)

    scene.end()

    receipt = scene.passenger.get(f"{scene.url}/receipt").json()
    assert receipt["distance_capped"] is False and receipt["distance_before_cap_m"] is None
    assert receipt["distance_m"] == pytest.approx(5000, abs=1)


def test_the_cap_follows_its_settings(scene, settings):
    settings.METER_MAX_DISTANCE_FACTOR = 2.0
    settings.METER_DISTANCE_MARGIN_M = 0
    scene.started_at_pickup()
    _drive_km_every_20_s(scene, 3)

    assert scene.end().json()["distance_m"] == 2223.9


@pytest.fixture
def operator_client(client):
    operator = User.objects.create_superuser("+628121111111", password="operator-pass-1")
    client.force_login(operator)
    return client


def test_operators_find_the_capped_rides_with_an_admin_filter(make_scene, operator_client):
    capped, normal = make_scene(), make_scene()
    for from_s, scene, km in ((0, capped, 10), (210, normal, 2)):
        scene.at(from_s)
        scene.started_at_pickup()
        _drive_km_every_20_s(scene, km, from_s)
        scene.end()

    response = operator_client.get("/admin/rides/ride/", {"distance_capped__exact": "1"})

    assert response.status_code == 200
    assert [ride.id for ride in response.context["cl"].result_list] == [capped.ride.id]


# --- a Redis flush during a ride -----------------------------------------------------------------------------


def test_every_position_acknowledged_after_a_redis_flush_mid_ride_is_on_the_track_and_metered(scene):
    driver = User.objects.get(pk=scene.ride.driver_id)
    scene.started_at_pickup()
    scene.at(30)
    assert scene.drive(-6.2027, 106.8) is True
    track_ingest()
    get_live_redis().flushdb()  # Redis lost everything; the live sweeper has not run since

    scene.at(60)
    by_socket = socket_location(driver, -6.2054, 106.8)
    scene.at(90)
    by_rest = scene.driver.post("/api/v1/locations", {"lat": -6.2081, "lng": 106.8}, format="json").json()
    scene.at(120)
    by_socket_again = socket_location(driver, -6.2108, 106.8)

    assert (by_socket, by_rest, by_socket_again) == (True, {"accepted": True}, True)
    body = scene.end().json()
    track = list(TrackPoint.objects.filter(ride_id=scene.ride.id).order_by("recorded_at"))
    assert [point.lat for point in track] == [-6.2, -6.2027, -6.2054, -6.2081, -6.2108]
    assert body["distance_m"] == round(sum(point.segment_m for point in track), 2) == 1200.91


def test_after_a_redis_flush_a_socket_point_1_degree_from_the_rides_last_point_is_dropped(scene):
    scene.started_at_pickup()
    get_live_redis().flushdb()
    scene.at(30)

    assert socket_location(User.objects.get(pk=scene.ride.driver_id), -7.2, 106.8) is False

    assert scene.end().json()["distance_m"] == 0


# --- a ride never goes unmetered -----------------------------------------------------------------------------


def test_a_redis_error_while_turning_tracking_on_refuses_the_start_and_no_accepted_point_is_lost(scene):
    scene.drive(scene.ride.pickup_lat, scene.ride.pickup_lng)
    refused = redis.exceptions.ConnectionError("Redis went away")

    with mock.patch.object(get_live_redis(), "hset", side_effect=refused):  # the outside world fails at that moment
        response = scene.start()

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert Ride.objects.get(pk=scene.ride.id).status == "driver_en_route"
    assert scene.start().status_code == 200
    scene.at(60)
    assert scene.drive(-6.21, 106.8) is True
    assert scene.end().json()["distance_m"] == 1111.95


def test_the_sweeper_restores_a_rides_lost_tracking_although_redis_was_not_flushed(scene):
    scene.started_at_pickup()
    live_sweep()  # the beat's sweeps ran since Redis started
    get_live_redis().hdel(_tracking(scene), str(scene.ride.driver_id))  # lost; the marker is still there

    live_sweep()
    scene.at(60)

    assert scene.drive(-6.21, 106.8) is True
    assert scene.end().json()["distance_m"] == 1111.95


def test_the_sweeper_corrects_a_tracking_entry_naming_another_ride(scene):
    scene.started_at_pickup()
    live_sweep()
    other_ride = "00000000-0000-0000-0000-000000000001"
    get_live_redis().hset(_tracking(scene), str(scene.ride.driver_id), other_ride)

    live_sweep()

    assert get_live_redis().hget(_tracking(scene), str(scene.ride.driver_id)) == str(scene.ride.id)


def test_the_sweeper_stops_tracking_a_ride_no_longer_in_progress(scene):
    scene.started_at_pickup()
    scene.end()
    get_live_redis().hset(_tracking(scene), str(scene.ride.driver_id), str(scene.ride.id))  # clear was lost

    live_sweep()

    assert not get_live_redis().hexists(_tracking(scene), str(scene.ride.driver_id))


def _tracking(scene):
    """The tracking hash of the scene's driver's bucket."""
    return live.keys_of(scene.ride.driver_id).tracking


# --- the end reads only its own ride's pending points --------------------------------------------------------


def _live_streams_url(driver_id):
    live_client = get_live_redis()
    if isinstance(live_client, redis.RedisCluster):
        node = live_client.get_node_from_key(live.keys_of(driver_id).pending)
        return f"redis://{node.host}:{node.port}/0"
    return settings.LIVE_REDIS_URL


@contextmanager
def redis_commands_seen(driver_id):
    """The commands the live state's Redis database (on a cluster: the node of that driver's rides' streams)
    receives inside the block, each as a string (Redis MONITOR)."""
    client = redis.Redis.from_url(_live_streams_url(driver_id), decode_responses=True)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    sentinel, seen, watching = f"seen-until-{uuid.uuid4()}", [], threading.Event()

    def watch():
        with client.monitor() as monitor:
            watching.set()
            for command in monitor.listen():
                if sentinel in command["command"]:
                    return
                if int(command["db"]) == db:
                    seen.append(command["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(10)
    try:
        yield seen
    finally:
        client.echo(sentinel)
        watcher.join(10)
        client.close()


def test_ending_a_ride_reads_only_that_rides_pending_points(make_scene):
    scenes = [make_scene() for _ in range(3)]
    for scene in scenes:
        scene.started_at_pickup()
    scenes[0].at(60)
    for scene in scenes:
        assert scene.drive(-6.21, 106.8) is True  # every ride has a point pending
    ending, others = scenes[0], scenes[1:]

    with redis_commands_seen(ending.ride.driver_id) as commands:
        body = ending.end().json()

    stream_reads = [
        command
        for command in commands
        if command.split(" ", 1)[0].upper() in {"XRANGE", "XREVRANGE", "XREAD", "XREADGROUP"}
    ]
    assert stream_reads and all(str(ending.ride.id) in command for command in stream_reads), stream_reads
    assert body["distance_m"] == 1111.95
    track_ingest()
    assert [_distance(scene.ride.id) for scene in others] == [pytest.approx(1111.95, abs=0.01)] * 2


# --- a start in flight (PostgreSQL: real threads, the start held mid-transaction) -----------------------------


def _wait_for_lock_waiters(controller, count, bound_s=10):
    """Bounded wait until `count` sessions of the test database wait on a lock; whether they did."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        with controller.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return True
        time.sleep(0.01)
    return False


def _in_thread(work, results, name):
    def run():
        try:
            results[name] = work()
        except BaseException as exc:  # asserted on by the test
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_position_sent_while_the_start_commits_is_metered_and_the_sweeper_keeps_the_tracking(scene):
    if connection.vendor != "postgresql":
        pytest.skip("row locks, a trigger and an advisory lock hold the start mid-transaction: PostgreSQL only")
    scene.drive(scene.ride.pickup_lat, scene.ride.pickup_lng)
    results, threads = {}, []
    with writes_block_on("rides_trackpoint", "INSERT") as controller:  # the start's first track point waits
        threads.append(_in_thread(scene.start, results, "start"))
        assert _wait_for_lock_waiters(controller, 1)  # the start: tracking on, ride row locked, not committed
        scene.at(60)
        results["accepted"] = scene.drive(-6.21, 106.8)
        threads.append(_in_thread(live_sweep, results, "sweep"))
        threads.append(_in_thread(track_ingest, results, "ingest"))
        _wait_for_lock_waiters(controller, 3)  # the sweeper and the meter meet the start's lock (any order is right)
    for thread in threads:
        thread.join(30)

    assert not any(isinstance(result, BaseException) for result in results.values()), results
    assert results["start"].status_code == 200 and results["accepted"] is True
    assert get_live_redis().hget(_tracking(scene), str(scene.ride.driver_id)) == str(scene.ride.id)
    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
