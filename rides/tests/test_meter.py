"""The meter: accepted driver positions reach the ride's track through the ride's Redis stream, exactly once."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from locations import live
from locations.geo import haversine_m
from nebengjek.redis import get_live_redis
from rides.meter import ride_pending_points, ride_stream_key
from rides.models import Ride, TrackPoint
from rides.services import rides_track_append
from rides.tasks import track_ingest
from tests.reliability.parallel import raised, run_parallel

STEP_DEG = 0.0001  # 11.12 m of latitude: short segments


def _stream_length(ride):
    return get_live_redis().xlen(ride_stream_key(ride.id, ride.driver_id))


def _pending_rides():
    return live.set_members_all(get_live_redis(), "pending")


def _stream_add(ride, fields):
    """An entry in the ride's stream as the ingest script writes it (the ride joins its driver's pending set)."""
    get_live_redis().xadd(ride_stream_key(ride.id, ride.driver_id), fields)
    get_live_redis().sadd(live.keys_of(ride.driver_id).pending, str(ride.id))


def _distance(ride_id):
    return Ride.objects.get(pk=ride_id).distance_m


def _drive_south(scene, *, points, start_lat=-6.2, every_s=2, first_s=0, zigzag=False):
    """Send `points` positions each STEP_DEG further south (zigzag: alternating east-west too), every `every_s`
    seconds; returns the expected metres (the sum of the segments, in time order)."""
    expected = 0.0
    lat, lng = start_lat, 106.8
    for i in range(1, points + 1):
        scene.at(first_s + i * every_s)
        next_lat, next_lng = start_lat - i * STEP_DEG, 106.8 + (STEP_DEG if zigzag and i % 2 else 0)
        assert scene.drive(next_lat, next_lng) is True
        expected += haversine_m(lat, lng, next_lat, next_lng)
        lat, lng = next_lat, next_lng
    return expected


def test_an_accepted_position_counts_once_the_meter_task_runs(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    assert _distance(scene.ride.id) == 0

    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
    assert _stream_length(scene.ride) == 0 and _pending_rides() == set()


def test_many_short_segments_all_count(scene):
    scene.started_at_pickup()

    expected = _drive_south(scene, points=40)
    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(expected, rel=1e-9)
    points = list(TrackPoint.objects.filter(ride_id=scene.ride.id).order_by("recorded_at"))
    assert len(points) == 41
    assert sum(p.segment_m for p in points) == pytest.approx(expected, rel=1e-9)


def test_the_fare_of_a_multi_point_track_is_the_sum_of_its_segments(scene):
    scene.started_at_pickup()
    expected = _drive_south(scene, points=100)  # 1,111.95 m -> 3335.85 -> 3336 (above the minimum fare)

    fare = scene.end().json()["fare"]

    assert fare["metered_fare"] == round(expected / 1000 * 3000)


def test_running_the_meter_again_counts_nothing_twice(scene):
    scene.started_at_pickup()
    expected = _drive_south(scene, points=5)
    track_ingest()

    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(expected)


def test_an_entry_delivered_twice_counts_once(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    entries = get_live_redis().xrange(ride_stream_key(scene.ride.id, scene.ride.driver_id))
    track_ingest()

    _stream_add(scene.ride, entries[0][1])  # at-least-once: the same position again
    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
    assert TrackPoint.objects.filter(ride_id=scene.ride.id).count() == 2


def test_a_worker_dying_after_its_commit_before_deleting_leaves_entries_that_count_once(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    _, points = ride_pending_points(ride_id=scene.ride.id, driver_id=scene.ride.driver_id)
    rides_track_append(points_by_ride={str(scene.ride.id): points})  # committed; the worker died before deleting

    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
    assert _stream_length(scene.ride) == 0 and _pending_rides() == set()


def test_entries_stay_in_the_stream_until_the_batch_that_applied_them_committed(scene):
    if connection.vendor != "postgresql":
        pytest.skip("needs row locks held by another connection")
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    lock_held, release = threading.Event(), threading.Event()

    def hold_the_rides_lock():  # e.g. the ride's end, holding its lock
        try:
            with transaction.atomic():
                Ride.objects.select_for_update().get(pk=scene.ride.id)
                lock_held.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_rides_lock)
    holder.start()
    assert lock_held.wait(10)
    worker = threading.Thread(target=lambda: (track_ingest(), connections.close_all()))
    worker.start()
    try:
        assert _wait_for_a_lock_wait(), "the meter never waited for the ride's lock"
        assert _stream_length(scene.ride) == 1  # read, being applied, not deleted
    finally:
        release.set()
        holder.join(30)
        worker.join(30)

    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
    assert _stream_length(scene.ride) == 0


def _wait_for_a_lock_wait(bound_s=10):
    """True once another session of this database waits for a row lock (the meter blocked on the ride)."""
    deadline = time.monotonic() + bound_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def test_a_batch_applied_after_a_later_one_is_merged_into_the_track_in_time_order(scene):
    scene.started_at_pickup()
    expected = _drive_south(scene, points=10, zigzag=True)
    entries = get_live_redis().xrange(ride_stream_key(scene.ride.id, scene.ride.driver_id))
    _, points = ride_pending_points(ride_id=scene.ride.id, driver_id=scene.ride.driver_id)
    rides_track_append(points_by_ride={str(scene.ride.id): points[4:]})  # another worker applies points 5..10 first
    get_live_redis().xdel(
        ride_stream_key(scene.ride.id, scene.ride.driver_id), *[entry_id for entry_id, _ in entries[4:]]
    )

    track_ingest()  # points 1..4 arrive late

    assert _distance(scene.ride.id) == pytest.approx(expected, rel=1e-9)
    points = list(TrackPoint.objects.filter(ride_id=scene.ride.id).order_by("recorded_at"))
    assert len(points) == 11 and sum(p.segment_m for p in points) == pytest.approx(expected, rel=1e-9)


def test_ending_counts_points_the_meter_has_not_applied_yet(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    assert _stream_length(scene.ride) == 1

    body = scene.end().json()

    assert body["distance_m"] == 1111.95
    assert _stream_length(scene.ride) == 0 and _pending_rides() == set()


def test_points_after_the_end_do_not_change_the_ride(scene):
    scene.started_at_pickup()
    scene.at(60)
    scene.drive(-6.21, 106.8)
    scene.end()
    scene.at(120)
    scene.drive(-6.22, 106.8)
    _stream_add(scene.ride, {"lat": "-6.23", "lng": "106.8", "t": "1795000000.0"})  # late, still in the stream

    track_ingest()

    assert _distance(scene.ride.id) == pytest.approx(1111.95, abs=0.01)
    assert _stream_length(scene.ride) == 0 and _pending_rides() == set()


def test_positions_before_the_start_are_not_metered(scene):
    scene.drive(-6.21, 106.8)
    scene.at(60)
    scene.drive(-6.2, 106.8)
    scene.start()

    track_ingest()

    assert _distance(scene.ride.id) == 0


# --- implausible positions are dropped by the filter and never reach the fare ------------------------------


def _contract_ride_then(scene, send_implausible):
    scene.started_at_pickup()
    scene.at(60)
    assert scene.drive(-6.21, 106.8) is True
    send_implausible()
    return scene.end().json()["fare"]["metered_fare"]


def test_a_position_implying_more_than_200_kmh_does_not_change_the_fare(scene):
    def too_fast():
        scene.at(61)
        assert scene.drive(-6.26, 106.8) is False  # 5.6 km in 1 s

    assert _contract_ride_then(scene, too_fast) == 3336


def test_a_position_less_accurate_than_50_m_does_not_change_the_fare(scene):
    def inaccurate():
        scene.at(90)
        assert scene.drive(-6.211, 106.8, accuracy_m=80) is False

    assert _contract_ride_then(scene, inaccurate) == 3336


def test_a_position_older_than_the_last_one_does_not_change_the_fare(scene):
    def out_of_order():
        scene.at(90)
        assert scene.drive(-6.205, 106.8, recorded_at="2026-11-20T08:00:30Z") is False

    assert _contract_ride_then(scene, out_of_order) == 3336


# --- several workers ---------------------------------------------------------------------------------------


def test_meter_runs_in_parallel_apply_each_point_once(make_scene, settings):
    if connection.vendor != "postgresql":
        pytest.skip("threads need a server database (SQLite's in-memory test database locks whole tables)")
    settings.RIDE_TRACK_INGEST_BATCH = 5  # many small reads, so the workers interleave
    scenes = [make_scene() for _ in range(3)]
    for scene in scenes:
        scene.started_at_pickup()
    expected = {scene.ride.id: _drive_south(scene, points=15, zigzag=True) for scene in scenes}

    results = run_parallel(4, lambda _: track_ingest())

    assert raised(results) == []
    for ride_id, metres in expected.items():
        assert _distance(ride_id) == pytest.approx(metres, rel=1e-9)
        assert TrackPoint.objects.filter(ride_id=ride_id).count() == 16
