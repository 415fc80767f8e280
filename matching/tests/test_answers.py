"""A driver's answer: the first accept wins, the others are told; reject frees the driver and moves dispatch on."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from matching.models import Match, RideRequest
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    proposals_of,
    received,
)

pytestmark = pytest.mark.usefixtures("matching_mode")  # both dispatch modes


def accept(client_for, driver):
    return client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept")


def reject(client_for, driver):
    return client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/reject")


def test_the_first_driver_to_accept_wins_and_the_request_has_a_driver(client_for):
    winner, _other = driver_online(300), driver_online(500)
    request = ask_for_ride(client_for(make_passenger()))

    response = accept(client_for, winner)

    assert response.status_code == 200
    assert response.json()["status"] == "accepted" and response.json()["driver"]["id"] == str(winner.id)
    assert RideRequest.objects.get(id=request["id"]).status == "driver_found"


def test_the_other_drivers_of_the_batch_get_match_cancelled_and_are_freed(client_for):
    winner, other = driver_online(300), driver_online(500)
    request = ask_for_ride(client_for(make_passenger()))

    accept(client_for, winner)

    [(_, cancelled)] = received(other, "match.cancelled")
    assert cancelled["match"]["request_id"] == request["id"] and cancelled["match"]["reason"] == "taken"
    assert not Match.objects.filter(driver=other, holds_driver=True).exists()


def test_the_passenger_gets_match_accepted_with_driver_vehicle_plate_and_distance(client_for):
    passenger = make_passenger()
    winner = driver_online(300, user__full_name="Budi", vehicle_type="car", vehicle_plate="B 1234 XYZ")
    ask_for_ride(client_for(passenger), product="car")  # a car driver is offered car requests only

    accept(client_for, winner)

    [(_, accepted)] = received(passenger, "match.accepted")
    assert accepted["match"]["driver"] == {
        "id": str(winner.id),
        "full_name": "Budi",
        "vehicle_type": "car",
        "vehicle_plate": "B 1234 XYZ",
        "rating": None,
    }
    assert accepted["match"]["distance_to_pickup_m"] == 300
    assert accepted["match"]["confirm_expires_at"] is not None


def test_the_second_driver_to_accept_gets_409_match_not_pending(client_for):
    first, second = driver_online(300), driver_online(500)
    ask_for_ride(client_for(make_passenger()))
    accept(client_for, first)

    response = accept(client_for, second)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "match_not_pending"


def test_accepting_twice_is_409(client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    accept(client_for, driver)

    response = accept(client_for, driver)

    assert response.status_code == 409


def test_an_accept_by_someone_who_is_not_the_proposed_driver_is_404(client_for):
    driver, stranger = driver_online(300), driver_online(5000)
    passenger = make_passenger()
    ask_for_ride(client_for(passenger))
    match_id = last_proposal(driver)["id"]

    by_stranger = client_for(stranger).post(f"/api/v1/matches/{match_id}/accept")
    by_passenger = client_for(passenger).post(f"/api/v1/matches/{match_id}/accept")

    assert by_stranger.status_code == 404 and by_passenger.status_code == 404
    assert by_stranger.json()["error"]["code"] == "match_not_found"


def test_an_accept_after_the_proposal_expired_is_409(client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))

    with time_machine.travel(timezone.now() + timedelta(seconds=15), tick=False):
        response = accept(client_for, driver)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "match_not_pending"


def test_a_reject_frees_the_driver(client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))

    response = reject(client_for, driver)

    assert response.status_code == 200 and response.json()["status"] == "rejected"
    assert not Match.objects.filter(driver=driver, holds_driver=True).exists()


def test_when_the_whole_batch_rejects_the_next_batch_goes_out_at_once(client_for):
    near = driver_online(300)
    farther = driver_online(1500)
    request = ask_for_ride(client_for(make_passenger()))

    reject(client_for, near)

    assert len(proposals_of(farther)) == 1
    assert RideRequest.objects.get(id=request["id"]).batch_no == 2


def test_a_reject_while_others_of_the_batch_still_think_waits_for_them(client_for):
    first, second = driver_online(300), driver_online(500)
    farther = driver_online(1500)
    ask_for_ride(client_for(make_passenger()))

    reject(client_for, first)

    assert proposals_of(farther) == []
    assert Match.objects.get(driver=second).status == "pending"


def test_a_driver_who_rejected_is_never_offered_that_request_again(client_for):
    rejecting = driver_online(300)
    request = ask_for_ride(client_for(make_passenger()))

    reject(client_for, rejecting)

    assert len(proposals_of(rejecting)) == 1
    assert RideRequest.objects.get(id=request["id"]).status == "no_driver"


def test_a_rejected_driver_can_take_the_next_request(client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    reject(client_for, driver)

    second = ask_for_ride(client_for(make_passenger()))

    assert last_proposal(driver)["request_id"] == second["id"]


def test_a_reject_after_accepting_is_409(client_for):
    driver = driver_online(300)
    ask_for_ride(client_for(make_passenger()))
    accept(client_for, driver)

    response = reject(client_for, driver)

    assert response.status_code == 409
