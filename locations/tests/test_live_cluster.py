"""The live state on a Redis Cluster (LIVE_REDIS_CLUSTER): the GEO index split by H3 region over the masters, a
driver crossing a region boundary leaves no ghost, and a search near a boundary finds drivers on both sides.

A real 6-node cluster (3 masters, 3 replicas) on LIVE_CLUSTER_TEST_PORT..+5 (default 7200), started once for the
session (tests.live_cluster); skipped without redis-server. The rest of the locations, matching and rides tests
run on it with `python -m pytest -p tests.live_cluster locations matching rides` (.ci/run does).
"""

from datetime import timedelta

import h3
from django.utils import timezone
from redis.crc import key_slot

from accounts.tests.factories import make_driver
from locations import live
from locations.regions import region_of
from locations.selectors import drivers_available_near
from locations.services import live_sweep, location_ingest
from locations.tests.helpers import MONAS, driver_online_at, north_of
from nebengjek import redis_keys
from nebengjek.redis import get_live_redis
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


def test_the_drivers_state_keys_share_one_slot_and_each_region_its_own():
    state = {
        key_slot(key.encode())
        for key in (
            live.last_position_key("u1"),
            redis_keys.DRIVERS_REGION,
            redis_keys.DRIVERS_SEEN,
            redis_keys.DRIVERS_BEACON,
            redis_keys.DRIVERS_BUSY,
            redis_keys.DRIVERS_TRACKING,
            redis_keys.RIDE_TRACK_PENDING,
            redis_keys.DRIVERS_POSITION,
            redis_keys.LIVE_STATE_MARKER,
            redis_keys.DRIVERS_REGIONS,
            redis_keys.key(redis_keys.RIDE_TRACK_STREAM, ride_id="r1"),
        )
    }
    cell = h3.latlng_to_cell(*MONAS, 5)
    assert len(state) == 1
    assert len({key_slot(key.encode()) for key in live.region_keys(cell)}) == 1
