"""The passenger's side: confirm within the window (or the request expires), cancel at any stage before the ride."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from locations.services import location_ingest
from matching import tasks
from matching.models import Match, RequestStatus, RideRequest
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    proposals_of,
    received,
)
from rides.models import Ride

pytestmark = pytest.mark.usefixtures("matching_mode")  # both dispatch modes


def later(seconds):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds), tick=False)


def accepted_request(client_for, driver, passenger=None):
    """A passenger's request accepted by `driver`: (passenger client, request body)."""
    client = client_for(passenger or make_passenger())
    request = ask_for_ride(client)
    assert client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept").status_code == 200
    return client, request


def test_confirm_answers_201_with_the_ride_driver_en_route(client_for):
    driver = driver_online(300)
    client, request = accepted_request(client_for, driver)

    response = client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 201
    assert response.json()["status"] == "driver_en_route"
    assert response.json()["driver"]["id"] == str(driver.id)
    assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.CONFIRMED


def test_after_confirm_both_sides_get_match_confirmed_then_ride_updated(client_for):
    driver = driver_online(300)
    passenger = make_passenger()
    client, request = accepted_request(client_for, driver, passenger)

    ride = client.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()

    for user in (passenger, driver):
        types = [type for type, _ in received(user)]
        assert types[-2:] == ["match.confirmed", "ride.updated"]
        assert received(user, "ride.updated")[-1][1]["ride"]["id"] == ride["id"]


def test_confirm_before_a_driver_accepted_is_409(client_for):
    driver_online(300)
    client = client_for(make_passenger())
    request = ask_for_ride(client)

    response = client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_not_confirmable"


def test_confirming_twice_is_409_and_makes_one_ride(client_for):
    client, request = accepted_request(client_for, driver_online(300))
    client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    response = client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 409
    assert Ride.objects.filter(request_id=request["id"]).count() == 1


def test_someone_else_cannot_confirm_the_request(client_for):
    _, request = accepted_request(client_for, driver_online(300))

    response = client_for(make_passenger()).post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 404


def test_confirm_after_60_seconds_is_409_confirm_expired(client_for):
    client, request = accepted_request(client_for, driver_online(300))

    with later(60):
        response = client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "confirm_expired"


def test_an_unconfirmed_request_expires_and_both_are_told(client_for):
    driver = driver_online(300)
    passenger = make_passenger()
    _, request = accepted_request(client_for, driver, passenger)

    with later(61):
        tasks.sweep()

    assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.EXPIRED
    for user in (passenger, driver):
        [(_, expired)] = received(user, "match.expired")
        assert expired["match"]["request_id"] == request["id"] and expired["match"]["reason"] == "confirm_timeout"


def test_an_expired_confirmation_frees_the_driver_for_the_next_request(client_for):
    driver = driver_online(300)
    accepted_request(client_for, driver)

    with later(61):
        tasks.request_confirm_expire(str(RideRequest.objects.get().id))
        location_ingest(user=driver, lat=-6.2, lng=106.8)  # still around, position fresh again
        next_request = ask_for_ride(client_for(make_passenger()))

    assert last_proposal(driver)["request_id"] == next_request["id"]


def test_the_confirm_timeout_does_nothing_before_its_time(client_for):
    _, request = accepted_request(client_for, driver_online(300))

    with later(59):
        tasks.request_confirm_expire(request["id"])

    assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.DRIVER_FOUND


def test_cancel_while_searching_tells_every_driver_with_a_proposal_and_frees_them(client_for):
    drivers = [driver_online(300), driver_online(500)]
    client = client_for(make_passenger())
    request = ask_for_ride(client)

    response = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json() == client.get(f"/api/v1/rides/requests/{request['id']}").json()
    for driver in drivers:
        [(_, cancelled)] = received(driver, "match.cancelled")
        assert cancelled["match"]["reason"] == "passenger_cancelled"
    assert not Match.objects.filter(holds_driver=True).exists()


def test_cancel_after_a_driver_accepted_tells_that_driver(client_for):
    driver = driver_online(300)
    client, request = accepted_request(client_for, driver)

    response = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 200
    [(_, cancelled)] = received(driver, "match.cancelled")
    assert cancelled["match"]["request_id"] == request["id"]
    assert not Match.objects.filter(driver=driver, holds_driver=True).exists()


def test_cancel_after_confirm_cancels_the_ride_before_it_starts(client_for):
    driver = driver_online(300)
    client, request = accepted_request(client_for, driver)
    ride = client.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()

    response = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 200
    assert response.json() == client.get(f"/api/v1/rides/requests/{request['id']}").json()
    assert response.json()["ride_id"] == ride["id"]
    assert Ride.objects.get(id=ride["id"]).status == "cancelled"
    assert received(driver, "ride.updated")[-1][1]["ride"]["status"] == "cancelled"
    assert not Match.objects.filter(driver=driver, holds_driver=True).exists()


def test_cancel_before_dispatch_sent_any_proposal_just_cancels(client_for):
    passenger = make_passenger()
    waiting = RideRequest.objects.create(  # made, its dispatch task not run yet
        passenger=passenger,
        pickup_lat=-6.2,
        pickup_lng=106.8,
        destination_lat=-6.21,
        destination_lng=106.8,
        estimate_distance_m=1112,
        estimate_amount=3336,
    )

    response = client_for(passenger).post(f"/api/v1/rides/requests/{waiting.id}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert RideRequest.objects.get(id=waiting.id).is_open is False


def test_cancelling_twice_answers_200_with_the_cancelled_request(client_for):
    client = client_for(make_passenger())
    driver_online(300)
    request = ask_for_ride(client)
    client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    again = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_a_cancelled_request_is_not_dispatched_further(client_for):
    _near, far = driver_online(300), driver_online(1500)
    client = client_for(make_passenger())
    request = ask_for_ride(client)
    client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    with later(16):
        tasks.sweep()

    assert proposals_of(far) == []


def test_cancel_of_a_request_that_found_no_driver_is_409(client_for):
    client = client_for(make_passenger())
    request = ask_for_ride(client)

    response = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_not_cancellable"


def test_someone_else_cannot_cancel_the_request(client_for):
    driver_online(300)
    request = ask_for_ride(client_for(make_passenger()))

    response = client_for(make_passenger()).post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 404


def test_cancel_after_confirm_reads_the_request_only_to_lock_it(client_for):
    """rides' cancel returns the request as it released it: matching does not re-read the row afterwards. The row is
    read twice, both times to lock it: matching's cancel, then the ride's cancel (request -> match -> ride)."""
    driver = driver_online(300)
    client, request = accepted_request(client_for, driver)
    client.post(f"/api/v1/rides/requests/{request['id']}/confirm")

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/v1/rides/requests/{request['id']}/cancel")

    assert response.status_code == 200
    reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and 'FROM "matching_riderequest"' in query["sql"]
        and '"matching_riderequest"."id" =' in query["sql"]
    ]
    assert len(reads) == 2, reads
