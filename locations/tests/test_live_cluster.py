"""The live state on a Redis Cluster (LIVE_REDIS_CLUSTER): the drivers' state split into buckets and the GEO index
split by H3 region, both over the masters; a driver crossing a region boundary leaves no ghost, the sweeper's
incremental ghost scan covers every region within one pass, a search near a boundary finds drivers on both sides,
and the meter finds every bucket's track streams.

A real 6-node cluster (3 masters, 3 replicas) on LIVE_CLUSTER_TEST_PORT..+5 (default 7200), started once for the
session (tests.live_cluster); skipped without redis-server. The rest of the locations, matching and rides tests
run on it with `python -m pytest -p tests.live_cluster locations matching rides` (.ci/run does).
"""

import asyncio
from datetime import timedelta

import h3
import pytest
import time_machine
from django.utils import timezone
from redis.crc import key_slot

from accounts.tests.factories import make_driver
from locations import live
from locations.regions import region_of
from locations.selectors import drivers_available_near, user_last_position
from locations.services import live_sweep, location_ingest, location_record_async
from locations.tests.helpers import MONAS, driver_online_at, north_of
from nebengjek.redis import get_live_redis
from rides.tasks import track_ingest
from rides.tests.factories import make_in_progress_ride
from tests.live_cluster import live_cluster_fixture, live_cluster_session_fixture  # noqa: F401  (fixtures)

# Greater Jakarta (Jabodetabek): Bogor to Tangerang to Bekasi.
JABODETABEK = [
    (-6.60, 106.80),
    (-6.18, 106.63),
    (-6.24, 107.00),
    (-6.12, 106.85),
    (-6.30, 106.70),
    (-6.40, 106.85),
    (-6.20, 106.82),
    (-6.50, 106.95),
    (-6.15, 106.75),
    (-6.35, 107.05),
]


def region_members(cell):
    return set(get_live_redis().zrange(live.region_keys(cell)[0], 0, -1))


def boundary_near(lat, lng):
    """Two points ~60 m apart on either side of the border between the region of (lat, lng) and a neighbour."""
    own = region_of(lat, lng)
    step = 0.0002
    for i in range(1, 20000):
        there = (lat + i * step, lng)
        if region_of(*there) != own:
            return (lat + (i - 1) * step, lng), there
    raise AssertionError("no boundary found")


def test_greater_jakarta_drivers_regions_sit_on_at_least_two_masters(live_cluster):
    for lat, lng in JABODETABEK:
        driver_online_at(make_driver(), (lat, lng))

    regions = {region_of(lat, lng) for lat, lng in JABODETABEK}
    masters = {live_cluster.master_port_of(live.region_keys(cell)[0]) for cell in regions}

    assert all(region_members(cell) for cell in regions)
    assert len(masters) >= 2, (regions, masters)


def test_a_driver_crossing_a_region_boundary_is_indexed_in_the_new_region_only(live_cluster):
    before, after = boundary_near(*MONAS)
    driver = driver_online_at(make_driver(), before, recorded_at=timezone.now() - timedelta(seconds=30))

    location_ingest(user=driver, lat=after[0], lng=after[1])

    assert region_members(region_of(*before)) == set()
    assert region_members(region_of(*after)) == {str(driver.id)}
    assert [d.id for d in drivers_available_near(lat=after[0], lng=after[1], radius_m=1000)] == [str(driver.id)]


def test_a_ghost_left_by_a_failed_region_step_is_removed_by_the_sweeper(live_cluster):
    before, after = boundary_near(*MONAS)
    driver = driver_online_at(make_driver(), before, recorded_at=timezone.now() - timedelta(seconds=30))
    ghost_region = region_of(*before)
    ghost = get_live_redis().hget(live.region_keys(ghost_region)[1], str(driver.id))
    location_ingest(user=driver, lat=after[0], lng=after[1])
    live.run([live.Call("cell_put", live.region_keys(ghost_region), [str(driver.id), *ghost.split(",")])])  # as if
    # the step that took the driver out of the old region had failed

    swept = live_sweep()

    assert swept["ghosts"] == 1
    assert region_members(ghost_region) == set()
    assert region_members(region_of(*after)) == {str(driver.id)}


def test_a_search_near_a_boundary_finds_drivers_on_both_sides(live_cluster):
    here, there = boundary_near(*MONAS)
    this_side = driver_online_at(make_driver(), here)
    other_side = driver_online_at(make_driver(), there)
    far = driver_online_at(make_driver(), north_of(there, 5000))

    found = drivers_available_near(lat=here[0], lng=here[1], radius_m=1000)

    assert region_of(*here) != region_of(*there)
    assert {d.id for d in found} == {str(this_side.id), str(other_side.id)}
    assert str(far.id) not in {d.id for d in found}


def test_each_drivers_state_keys_share_their_buckets_slot_and_each_region_its_own(live_cluster):
    keys = live.keys_of("u1")
    state = {
        key_slot(key.encode())
        for key in (
            keys.last_position("u1"),
            keys.region,
            keys.regions,
            keys.seen,
            keys.position,
            keys.beacon,
            keys.busy,
            keys.vehicle,
            keys.tracking,
            keys.watched,
            keys.pending,
            keys.marker,
            keys.track_stream("r1"),
            keys.ride_live("r1"),
        )
    }
    cell = h3.latlng_to_cell(*MONAS, 5)
    assert live.live_buckets() > 1
    assert len(state) == 1
    assert len({key_slot(key.encode()) for key in live.region_keys(cell)}) == 1


def test_the_state_of_many_drivers_sits_on_at_least_two_masters(live_cluster):
    drivers = [driver_online_at(make_driver(), north_of(MONAS, 100 * i)) for i in range(30)]

    masters = {live_cluster.master_port_of(live.keys_of(driver.id).seen) for driver in drivers}

    assert len(masters) >= 2, masters
    client = get_live_redis()
    assert all(client.zscore(live.keys_of(driver.id).seen, str(driver.id)) is not None for driver in drivers)
    assert {d.id for d in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=5000, limit=50)} == {
        str(driver.id) for driver in drivers
    }


def _drivers_on_two_masters(live_cluster, make):
    """Two things made by `make()` whose drivers' buckets sit on different masters (made until they do)."""
    first = make()
    first_master = live_cluster.master_port_of(live.keys_of(_driver_id(first)).seen)
    for _ in range(50):
        other = make()
        if live_cluster.master_port_of(live.keys_of(_driver_id(other)).seen) != first_master:
            return first, other
    raise AssertionError("every bucket on one master")


def _driver_id(made):
    return getattr(made, "driver_id", None) or made.id


def test_drivers_of_buckets_on_two_masters_crossing_a_region_boundary_are_indexed_in_the_new_region_only(
    live_cluster,
):
    before, after = boundary_near(*MONAS)
    earlier = timezone.now() - timedelta(seconds=30)
    drivers = _drivers_on_two_masters(live_cluster, make_driver)
    for driver in drivers:
        driver_online_at(driver, before, recorded_at=earlier)

    for driver in drivers:
        assert location_ingest(user=driver, lat=after[0], lng=after[1])

    ids = {str(driver.id) for driver in drivers}
    assert region_members(region_of(*before)) == set()
    assert region_members(region_of(*after)) == ids
    assert {d.id for d in drivers_available_near(lat=after[0], lng=after[1], radius_m=1000)} == ids
    assert live_sweep()["ghosts"] == 0


def test_the_sweepers_incremental_ghost_scan_removes_a_ghost_within_one_pass(live_cluster, settings):
    settings.LIVE_SWEEP_REGIONS_PER_RUN = 2
    for lat, lng in JABODETABEK:
        driver_online_at(make_driver(), (lat, lng))
    before, after = boundary_near(*MONAS)
    driver = driver_online_at(make_driver(), before, recorded_at=timezone.now() - timedelta(seconds=30))
    ghost_region = region_of(*before)
    ghost = get_live_redis().hget(live.region_keys(ghost_region)[1], str(driver.id))
    location_ingest(user=driver, lat=after[0], lng=after[1])
    live.run([live.Call("cell_put", live.region_keys(ghost_region), [str(driver.id), *ghost.split(",")])])  # as if
    # the step that took the driver out of the old region had failed
    regions = {region_of(lat, lng) for lat, lng in JABODETABEK} | {ghost_region, region_of(*after)}

    runs = [live_sweep() for _ in range(len(regions) // 2 + 1)]  # one pass: 2 regions a run, then an empty end

    assert all(run["regions_checked"] <= 2 for run in runs)
    assert sum(run["regions_checked"] for run in runs) == len(regions)
    assert sum(run["ghosts"] for run in runs) == 1
    assert str(driver.id) not in region_members(ghost_region)
    assert str(driver.id) in region_members(region_of(*after))


def test_the_meter_reads_the_track_streams_of_drivers_on_two_masters(live_cluster):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        rides = _drivers_on_two_masters(live_cluster, make_in_progress_ride)
        clock.shift(timedelta(seconds=60))
        for ride in rides:
            assert location_ingest(user=ride.driver, lat=ride.pickup_lat - 0.01, lng=ride.pickup_lng)

        track_ingest()

    for ride in rides:
        ride.refresh_from_db()
        assert ride.distance_m == pytest.approx(1111.95, abs=0.01)
        assert get_live_redis().smembers(live.keys_of(ride.driver_id).pending) == set()


def test_one_batch_of_socket_updates_of_drivers_in_many_buckets_is_judged_and_indexed_per_driver(live_cluster):
    earlier = timezone.now() - timedelta(seconds=30)
    drivers = [driver_online_at(make_driver(), north_of(MONAS, 100 * i), recorded_at=earlier) for i in range(30)]
    moved = {str(driver.id): north_of(MONAS, 100 * i + 50) for i, driver in enumerate(drivers)}
    too_fast = drivers[0]
    moved[str(too_fast.id)] = north_of(MONAS, 50_000)  # 50 km in 30 s: dropped, the others of its bucket are not

    async def one_batch():  # the sockets of one process: their updates go out in the flusher's batches
        return await asyncio.gather(
            *(location_record_async(user_id=driver_id, lat=lat, lng=lng) for driver_id, (lat, lng) in moved.items())
        )

    outcomes = asyncio.run(one_batch())

    assert len({live.bucket_of(driver.id) for driver in drivers}) > 1
    assert outcomes == ["too_fast"] + ["accepted"] * (len(drivers) - 1)
    for driver in drivers[1:]:
        position = user_last_position(user_id=driver.id)
        assert position is not None and (position.lat, position.lng) == moved[str(driver.id)]
    assert {d.id for d in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=5000, limit=50)} == {
        str(driver.id) for driver in drivers
    }
