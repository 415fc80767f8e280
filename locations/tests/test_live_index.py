import random
from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from locations import live
from locations.geo import haversine_m
from locations.regions import region_of
from locations.selectors import NearQuery, drivers_available_near, drivers_available_near_many, user_last_position
from locations.services import beacon_set, driver_busy_set, live_sweep, location_ingest
from locations.tests.helpers import MONAS, driver_online_at, north_of


def test_nearby_lists_available_drivers_nearest_first_with_haversine_distance():
    far = driver_online_at(make_driver(), north_of(MONAS, 800))
    near = driver_online_at(make_driver(), north_of(MONAS, 200))

    found = drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=1000)

    assert [driver.id for driver in found] == [str(near.id), str(far.id)]
    assert abs(found[0].distance_m - 200) < 0.5 and abs(found[1].distance_m - 800) < 0.5


def test_a_driver_outside_the_radius_is_not_near():
    driver_online_at(make_driver(), north_of(MONAS, 1010))

    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=1000) == []


def test_a_driver_with_the_beacon_off_is_not_available():
    driver = driver_online_at(make_driver(), north_of(MONAS, 100))

    beacon_set(user=driver, active=False)

    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=1000) == []


def test_positions_sent_before_the_beacon_count_once_it_is_on():
    driver = make_driver()
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    beacon_set(user=driver, active=True)

    assert [d.id for d in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100)] == [str(driver.id)]


def test_a_busy_driver_is_not_available_until_freed():
    driver = driver_online_at(make_driver(), MONAS)

    driver_busy_set(driver_id=driver.id, busy=True)
    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100) == []

    driver_busy_set(driver_id=driver.id, busy=False)
    assert len(drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100)) == 1


def test_a_busy_driver_who_moved_is_found_where_they_are_once_freed():
    driver = driver_online_at(make_driver(), MONAS, recorded_at=timezone.now() - timedelta(seconds=30))
    driver_busy_set(driver_id=driver.id, busy=True)
    moved = north_of(MONAS, 300)
    assert location_ingest(user=driver, lat=moved[0], lng=moved[1])
    assert drivers_available_near(lat=moved[0], lng=moved[1], radius_m=100) == []

    driver_busy_set(driver_id=driver.id, busy=False)

    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100) == []
    assert [(d.id, d.lat) for d in drivers_available_near(lat=moved[0], lng=moved[1], radius_m=100)] == [
        (str(driver.id), moved[0])
    ]


def test_a_busy_driver_who_switches_the_beacon_off_and_on_stays_unavailable_until_freed():
    driver = driver_online_at(make_driver(), MONAS)
    driver_busy_set(driver_id=driver.id, busy=True)

    beacon_set(user=driver, active=False)
    beacon_set(user=driver, active=True)
    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100) == []

    driver_busy_set(driver_id=driver.id, busy=False)
    assert [d.id for d in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100)] == [str(driver.id)]


def test_a_driver_silent_for_60_seconds_is_stale():
    driver_online_at(make_driver(), MONAS)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100) == []


def test_silent_drivers_not_yet_swept_do_not_hide_a_fresh_one_behind_them():
    long_ago = timezone.now() - timedelta(seconds=61)
    for metres in range(10, 130, 10):  # 12 silent drivers nearer than the fresh one: more than one search asks for
        driver_online_at(make_driver(), north_of(MONAS, metres), recorded_at=long_ago)
    fresh = driver_online_at(make_driver(), north_of(MONAS, 700))

    found = drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=1000, limit=1)

    assert [d.id for d in found] == [str(fresh.id)]


def test_the_sweeper_removes_stale_drivers_and_keeps_fresh_ones():
    driver_online_at(make_driver(), MONAS)
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        fresh = driver_online_at(make_driver(), north_of(MONAS, 10))

        swept = live_sweep()

        assert swept["stale"] == 1
        assert [d.id for d in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100)] == [str(fresh.id)]


def test_exclude_ids_and_limit_narrow_the_answer():
    drivers = [driver_online_at(make_driver(), north_of(MONAS, 100 * i)) for i in range(1, 5)]

    found = drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=1000, limit=2, exclude_ids=[drivers[0].id])

    assert [d.id for d in found] == [str(drivers[1].id), str(drivers[2].id)]


def test_the_answer_is_the_exact_nearest_drivers_however_they_are_spread():
    """The search widens its circle by the density it finds: whatever the spread, the answer is the brute-force
    nearest by haversine within the radius."""
    rng = random.Random(8)
    points = [north_of(MONAS, rng.uniform(-1500, 1500)) for _ in range(12)]  # a line through the centre
    points += [(MONAS[0] + rng.uniform(-0.004, 0.004), MONAS[1] + rng.uniform(-0.004, 0.004)) for _ in range(20)]
    drivers = {str(driver_online_at(make_driver(), point).id): point for point in points}
    by_distance = sorted((haversine_m(*MONAS, *point), driver_id) for driver_id, point in drivers.items())

    for radius_m, limit in [(300, 3), (1000, 1), (1000, 5), (1000, 20), (1600, 32), (2000, 8)]:
        found = drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=radius_m, limit=limit)

        nearest = [driver_id for distance, driver_id in by_distance if distance <= radius_m][:limit]
        assert [d.id for d in found] == nearest


def test_many_searches_at_once_answer_as_each_search_alone():
    rng = random.Random(5)
    points = [(MONAS[0] + rng.uniform(-0.02, 0.02), MONAS[1] + rng.uniform(-0.02, 0.02)) for _ in range(30)]
    drivers = [
        driver_online_at(make_driver(vehicle_type="car" if i % 3 == 0 else "motorcycle"), point)
        for i, point in enumerate(points)
    ]
    queries = [
        NearQuery(lat=MONAS[0], lng=MONAS[1], radius_m=1500, limit=4),
        NearQuery(lat=points[3][0], lng=points[3][1], radius_m=3000, limit=12, exclude_ids=(str(drivers[3].id),)),
        NearQuery(lat=points[7][0], lng=points[7][1], radius_m=800, vehicle_types=("car",)),
        NearQuery(lat=points[9][0], lng=points[9][1], radius_m=2000, vehicle_types=("motorcycle",)),
        NearQuery(lat=MONAS[0] + 1, lng=MONAS[1], radius_m=1000),  # nobody there
    ]

    answers = drivers_available_near_many(queries)

    alone = [
        drivers_available_near(
            lat=q.lat,
            lng=q.lng,
            radius_m=q.radius_m,
            limit=q.limit,
            exclude_ids=q.exclude_ids,
            vehicle_types=q.vehicle_types,
        )
        for q in queries
    ]
    assert answers == alone
    assert answers[1] and str(drivers[3].id) not in [d.id for d in answers[1]] and answers[-1] == []
    cars = {str(driver.id) for driver in drivers[::3]}
    assert answers[3] and not cars & {driver.id for driver in answers[3]}


def test_every_users_latest_position_is_kept_passengers_too():
    passenger = make_passenger()
    location_ingest(user=passenger, lat=-6.2, lng=106.8, recorded_at=timezone.now() - timedelta(seconds=5))

    position = user_last_position(user_id=passenger.id)

    assert (position.lat, position.lng) == (-6.2, 106.8)
    assert abs((timezone.now() - position.recorded_at).total_seconds() - 5) < 1


def test_a_user_never_seen_has_no_position():
    assert user_last_position(user_id=make_passenger().id) is None


def test_a_driver_near_the_pole_is_kept_but_not_indexed_and_searching_there_finds_nobody():
    driver = make_driver()
    beacon_set(user=driver, active=True)

    assert location_ingest(user=driver, lat=89.5, lng=10)

    assert user_last_position(user_id=driver.id).lat == 89.5
    assert drivers_available_near(lat=89.5, lng=10, radius_m=5000) == []


def test_a_search_centred_beyond_the_indexable_latitudes_still_finds_drivers_within_the_radius():
    driver = driver_online_at(make_driver(), (85.04, 0.0))

    found = drivers_available_near(lat=85.07, lng=0.0, radius_m=5000)

    assert [d.id for d in found] == [str(driver.id)]


def test_the_sweepers_ghost_scan_checks_a_slice_of_regions_per_run_and_every_region_within_one_pass(settings):
    settings.LIVE_SWEEP_REGIONS_PER_RUN = 1
    places = [MONAS, north_of(MONAS, 40_000), north_of(MONAS, 80_000), north_of(MONAS, -40_000)]
    drivers = [driver_online_at(make_driver(), place) for place in places]
    regions = {region_of(*place) for place in places}
    ghost_region = region_of(*places[1])
    live.run([live.Call("cell_put", live.region_keys(ghost_region), [str(drivers[0].id), "-6.0", "106.8", "1.0"])])

    runs = [live_sweep() for _ in range(len(regions) + 1)]  # one region a run, then the empty end of the pass

    assert len(regions) == 4
    assert [run["regions_checked"] for run in runs] == [1, 1, 1, 1, 0]
    assert sum(run["ghosts"] for run in runs) == 1
    assert [d.id for d in drivers_available_near(lat=places[1][0], lng=places[1][1], radius_m=1000)] == [
        str(drivers[1].id)
    ]
