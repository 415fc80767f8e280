"""Operators: cancel a stuck ride (service and admin action), find rides and read their tracks in the admin."""

import pytest

from accounts.models import User
from matching.models import Match
from nebengjek.models import Event
from rides import services
from rides.models import Ride
from rides.tests.factories import make_confirmed_ride, make_in_progress_ride


@pytest.fixture
def operator_client(client):
    operator = User.objects.create_superuser("+628121111111", password="operator-pass-1")
    client.force_login(operator)
    return client


def test_an_operator_cancels_a_ride_stuck_in_progress():
    ride = make_in_progress_ride()

    cancelled = services.ride_cancel(ride=ride, by="operator", reason="driver unreachable")

    assert cancelled.status == "cancelled" and cancelled.cancelled_by == "operator"
    assert cancelled.charged_amount is None
    assert Match.objects.get(pk=ride.match_id).holds_driver is False


def test_the_riders_are_told_when_an_operator_cancels():
    ride = make_confirmed_ride()

    services.ride_cancel(ride=ride, by="operator", reason="duplicate booking")

    for user_id in (ride.driver_id, ride.passenger_id):
        last = Event.objects.filter(user_id=user_id, type="ride.updated").order_by("-seq").first()
        assert last.payload["ride"]["status"] == "cancelled" and last.payload["ride"]["cancelled_by"] == "operator"


def test_an_operator_cannot_cancel_a_completed_ride(clock):
    ride = make_in_progress_ride()
    ride = services.ride_end(ride=ride, user=ride.driver)

    with pytest.raises(services.RidesException) as raised:
        services.ride_cancel(ride=ride, by="operator", reason="late")

    assert raised.value.code == "invalid_ride_state" and raised.value.status == 409


def test_admin_lists_rides_found_by_the_drivers_plate(operator_client):
    ride = make_confirmed_ride()
    other = make_confirmed_ride()
    plate_number = ride.driver.driver_profile.vehicle_plate.split()[1]
    User.objects.filter(pk=other.passenger_id).update(msisdn=f"+628129{plate_number}")  # the plate's digits

    response = operator_client.get("/admin/rides/ride/", {"q": ride.driver.driver_profile.vehicle_plate})

    assert response.status_code == 200
    assert str(ride.id) in response.content.decode()
    assert response.context["cl"].result_count == 1


def test_admin_shows_a_rides_track(operator_client):
    ride = make_in_progress_ride()

    response = operator_client.get(f"/admin/rides/ride/{ride.id}/change/")

    assert response.status_code == 200
    assert "segment" in response.content.decode()


def test_admin_action_cancels_stuck_rides(operator_client):
    ride = make_in_progress_ride()

    operator_client.post("/admin/rides/ride/", {"action": "cancel_stuck_rides", "_selected_action": [str(ride.id)]})

    assert Ride.objects.get(pk=ride.id).status == "cancelled"
