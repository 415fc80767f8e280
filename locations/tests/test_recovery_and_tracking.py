"""Redis holds only what can be rebuilt; ride tracking feeds the rides meter's stream."""

from datetime import timedelta

from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from locations import live
from locations.models import DriverPresence
from locations.selectors import drivers_available_near
from locations.services import beacon_set, driver_ride_tracking_set, live_sweep, location_ingest
from locations.tests.helpers import MONAS, driver_online_at, north_of
from matching.models import Match, RideRequest
from nebengjek.redis import get_live_redis


def near_monas():
    return [driver.id for driver in drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=500)]


def hold(driver):
    request = RideRequest.objects.create(
        passenger=make_passenger(),
        pickup_lat=MONAS[0],
        pickup_lng=MONAS[1],
        destination_lat=-6.2,
        destination_lng=106.8,
        estimate_distance_m=3000,
        estimate_amount=9000,
    )
    return Match.objects.create(
        request=request,
        driver=driver,
        batch_no=1,
        distance_to_pickup_m=10,
        expires_at=timezone.now() + timedelta(seconds=15),
    )


def test_after_a_redis_flush_the_sweeper_restores_beacons_and_the_next_position_restores_the_driver():
    driver = driver_online_at(make_driver(), MONAS)
    get_live_redis().flushdb()
    assert near_monas() == []

    live_sweep()
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    assert near_monas() == [str(driver.id)]


def test_the_sweeper_marks_drivers_held_by_a_match_as_busy_even_if_nobody_said_so():
    driver = driver_online_at(make_driver(), MONAS)
    hold(driver)

    live_sweep()

    assert near_monas() == []


def test_the_sweeper_frees_a_driver_whose_match_no_longer_holds_them():
    driver = driver_online_at(make_driver(), MONAS)
    match = hold(driver)
    live_sweep()
    Match.objects.filter(pk=match.pk).update(holds_driver=False, status="expired")

    live_sweep()

    assert near_monas() == [str(driver.id)]


def test_the_sweeper_takes_a_busy_driver_left_in_the_index_out_of_it():
    driver = driver_online_at(make_driver(), MONAS)
    hold(driver)
    get_live_redis().sadd(
        live.keys_of(driver.id).busy, str(driver.id)
    )  # as releases before the available-only index did

    live_sweep()

    assert near_monas() == []


def test_the_sweeper_takes_out_a_driver_whose_beacon_the_database_has_off():
    driver = driver_online_at(make_driver(), MONAS)
    DriverPresence.objects.filter(driver=driver).update(beacon_active=False)

    assert live_sweep()["beacon_fixed"] == 1

    assert near_monas() == []


def test_the_sweeper_puts_back_a_driver_whose_beacon_the_database_has_on():
    driver = driver_online_at(make_driver(), MONAS)
    live.driver_state(driver.id, "beacon", False)  # the mirror lost it: out of the beacon set and the index

    live_sweep()

    assert near_monas() == [str(driver.id)]


def test_a_tracked_drivers_accepted_positions_go_to_the_rides_own_track_stream():
    driver = driver_online_at(make_driver(), MONAS, recorded_at=timezone.now() - timedelta(seconds=10))
    driver_ride_tracking_set(driver_id=driver.id, ride_id="ride-1")
    recorded_at = timezone.now()

    location_ingest(user=driver, lat=north_of(MONAS, 50)[0], lng=MONAS[1], recorded_at=recorded_at)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1], accuracy_m=80)  # dropped: not tracked

    entries = get_live_redis().xrange(live.keys_of(driver.id).track_stream("ride-1"))
    assert len(entries) == 1
    fields = entries[0][1]
    assert get_live_redis().smembers(live.keys_of(driver.id).pending) == {"ride-1"}
    assert float(fields["lat"]) == north_of(MONAS, 50)[0] and float(fields["lng"]) == MONAS[1]
    assert abs(float(fields["t"]) - recorded_at.timestamp()) < 1e-3


def test_an_untracked_driver_writes_no_track():
    driver = driver_online_at(make_driver(), MONAS)
    driver_ride_tracking_set(driver_id=driver.id, ride_id="ride-1")
    driver_ride_tracking_set(driver_id=driver.id, ride_id=None)

    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    assert get_live_redis().xlen(live.keys_of(driver.id).track_stream("ride-1")) == 0


def test_a_dropped_socket_does_not_flip_the_beacon_but_silence_makes_the_driver_stale():
    driver = make_driver()
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1], recorded_at=timezone.now() - timedelta(seconds=61))

    assert near_monas() == []
    assert location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])
    assert near_monas() == [str(driver.id)]
