"""Dispatch: the nearest batch first, widening 1 -> 2 -> 3 km as batches expire, never the same driver twice."""

from datetime import timedelta

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.utils import timezone

from locations.selectors import drivers_available_near
from matching import tasks
from matching.models import Match, RequestStatus, RideRequest
from matching.tests.helpers import (
    PICKUP,
    ask_for_ride,
    driver_online,
    make_passenger,
    proposals_of,
    received,
)

pytestmark = pytest.mark.usefixtures("matching_mode")  # both dispatch modes


def later(seconds):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=False)


def offered_to(request_id):
    return set(Match.objects.filter(request_id=request_id).values_list("driver_id", flat=True))


def test_the_nearest_three_within_1_km_get_the_proposal(client_for):
    near = [driver_online(m) for m in (200, 400, 600)]
    fourth, outside = driver_online(800), driver_online(1500)

    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {d.id for d in near}
    assert proposals_of(fourth) == [] and proposals_of(outside) == []


def test_the_first_batch_is_full_when_the_surge_search_stopped_at_its_cap(client_for, settings):
    settings.SURGE_SUPPLY_MAX_COUNT = 2  # the supply search sees only the 2 nearest of the 4 within 1 km
    near = [driver_online(m) for m in (200, 400, 600)]
    driver_online(800)

    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {d.id for d in near}


def test_with_surge_off_the_first_batch_still_goes_to_the_nearest_three(client_for, settings):
    settings.SURGE_ENABLED = False  # no supply search to pick from: the index is searched
    near = [driver_online(m) for m in (200, 400, 600)]
    driver_online(800)

    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {d.id for d in near}


def test_a_proposal_carries_what_the_driver_needs(client_for):
    driver = driver_online(250)
    passenger = make_passenger(full_name="Sari")

    request = ask_for_ride(client_for(passenger))

    [proposal] = proposals_of(driver)
    assert proposal["request_id"] == request["id"]
    assert proposal["passenger"]["id"] == str(passenger.id) and proposal["passenger"]["full_name"] == "Sari"
    assert proposal["pickup"] == request["pickup"] and proposal["destination"] == request["destination"]
    assert proposal["distance_to_pickup_m"] == 250
    assert proposal["fare_estimate"] == request["fare_estimate"]
    assert proposal["expires_at"].endswith("Z")


def test_with_nobody_within_1_km_the_first_batch_goes_to_2_km_at_once(client_for):
    driver = driver_online(1500)

    request = ask_for_ride(client_for(make_passenger()))

    assert offered_to(request["id"]) == {driver.id}
    assert RideRequest.objects.get(id=request["id"]).radius_m == 2000


def test_with_nobody_within_3_km_the_request_is_no_driver_and_the_passenger_is_told(client_for):
    driver_online(3500)
    passenger = make_passenger()

    request = ask_for_ride(client_for(passenger))

    assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.NO_DRIVER
    [(_, payload)] = received(passenger, "request.updated")
    assert payload["request"]["id"] == request["id"] and payload["request"]["status"] == "no_driver"


def test_an_unanswered_batch_expires_and_the_next_goes_out_at_2_km(client_for):
    first = driver_online(300)
    second = driver_online(1800)
    request = ask_for_ride(client_for(make_passenger()))

    with later(16):
        tasks.request_dispatch(request["id"])

    [(_, expired)] = received(first, "match.expired")
    assert expired["match"]["status"] == "expired" and expired["match"]["reason"] == "expired"
    assert len(proposals_of(second)) == 1
    assert RideRequest.objects.get(id=request["id"]).radius_m == 2000


def test_the_batch_expiry_does_nothing_before_its_time(client_for):
    driver = driver_online(300)
    request = ask_for_ride(client_for(make_passenger()))

    with later(14):
        tasks.request_dispatch(request["id"])

    assert Match.objects.get(request_id=request["id"], driver=driver).status == "pending"
    assert received(driver, "match.expired") == []


def test_batches_widen_to_3_km_and_then_the_request_is_no_driver(client_for):
    drivers = [driver_online(m) for m in (500, 1500, 2500)]
    request = ask_for_ride(client_for(make_passenger()))
    radii = [RideRequest.objects.get(id=request["id"]).radius_m]

    for step in (16, 32):
        with later(step):
            tasks.sweep()
        radii.append(RideRequest.objects.get(id=request["id"]).radius_m)
    with later(48):
        tasks.sweep()

    assert radii == [1000, 2000, 3000]
    assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.NO_DRIVER
    assert all(len(proposals_of(driver)) == 1 for driver in drivers)


def test_a_driver_who_let_a_proposal_expire_is_not_offered_that_request_again(client_for):
    driver = driver_online(300)
    request = ask_for_ride(client_for(make_passenger()))

    with later(16):
        driver_online(0, point=PICKUP)  # someone else appears, nearer
        tasks.sweep()

    assert len(proposals_of(driver)) == 1
    assert Match.objects.filter(request_id=request["id"], driver=driver).count() == 1


def test_a_driver_holding_a_proposal_is_not_offered_another_request(client_for):
    driver = driver_online(300)
    first = ask_for_ride(client_for(make_passenger()))

    second = ask_for_ride(client_for(make_passenger()))

    assert offered_to(first["id"]) == {driver.id}
    assert offered_to(second["id"]) == set()
    assert Match.objects.filter(driver=driver, holds_driver=True).count() == 1


def test_a_driver_with_a_proposal_is_not_listed_as_available(client_for):
    driver = driver_online(300)

    ask_for_ride(client_for(make_passenger()))

    assert str(driver.id) not in {d.id for d in drivers_available_near(lat=PICKUP[0], lng=PICKUP[1], radius_m=1000)}


def test_the_sweeper_dispatches_a_request_whose_task_was_lost(client_for):
    driver = driver_online(300)
    passenger = make_passenger()
    lost = RideRequest.objects.create(  # as if the worker died before dispatching it
        passenger=passenger,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=-6.21,
        destination_lng=106.8,
        estimate_distance_m=1112,
        estimate_amount=3336,
    )

    with later(25):
        tasks.sweep()

    assert offered_to(lost.id) == {driver.id}


def test_the_sweeper_dispatches_within_seconds_a_request_whose_process_died_before_its_first_batch(client_for):
    driver = driver_online(300)
    passenger = make_passenger()
    lost = RideRequest.objects.create(  # committed, then the process died before the inline first dispatch
        passenger=passenger,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=-6.21,
        destination_lng=106.8,
        estimate_distance_m=1112,
        estimate_amount=3336,
    )

    with later(settings.MATCHING_FIRST_DISPATCH_GRACE_SECONDS + 1):
        tasks.sweep()

    assert offered_to(lost.id) == {driver.id}


def test_matching_tasks_go_to_their_own_queue():
    route = current_app.amqp.router.route({}, "matching.tasks.request_dispatch")

    assert route["queue"].name == settings.MATCHING_QUEUE != current_app.conf.task_default_queue


def test_the_sweeper_leaves_a_request_with_a_live_batch_alone(client_for):
    driver = driver_online(300)
    request = ask_for_ride(client_for(make_passenger()))

    with later(10):
        tasks.sweep()

    assert Match.objects.get(request_id=request["id"], driver=driver).status == "pending"
