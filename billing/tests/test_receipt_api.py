import uuid

import pytest

from accounts.tests.factories import make_driver, make_passenger
from billing.services import ride_refund, ride_settle
from billing.tests.factories import make_completed_ride


def test_the_receipt_shows_the_contract_numbers_and_the_surge_inputs(client_for):
    ride = make_completed_ride(
        metered_fare=3336,
        price_pct=75,
        payment_method="cash",
        distance_m=1111.9508,
        surge_cell="8a8c0d",
        surge_supply=5,
        surge_demand=3,
    )
    ride_settle(ride_id=ride.id)

    response = client_for(ride.passenger).get(f"/api/v1/rides/{ride.id}/receipt")

    assert response.status_code == 200
    body = response.json()
    assert {
        key: body[key]
        for key in [
            "distance_m",
            "metered_fare",
            "surge_multiplier",
            "price_pct",
            "charged_amount",
            "admin_fee",
            "driver_payout",
            "payment_method",
            "currency",
        ]
    } == {
        "distance_m": 1111.95,
        "metered_fare": 3336,
        "surge_multiplier": 1.0,
        "price_pct": 75,
        "charged_amount": 2502,
        "admin_fee": 125,
        "driver_payout": 2377,
        "payment_method": "cash",
        "currency": "IDR",
    }
    assert body["surge_inputs"] == {"cell": "8a8c0d", "supply": 5, "demand": 3}
    assert body["settled_at"] is not None and body["refunded_at"] is None


def test_the_receipt_has_no_settled_at_until_the_ride_is_settled(client_for):
    ride = make_completed_ride()

    body = client_for(ride.driver).get(f"/api/v1/rides/{ride.id}/receipt").json()

    assert body["settled_at"] is None


def test_the_receipt_shows_a_refund(client_for):
    ride = make_completed_ride(payment_method="wallet")
    ride_settle(ride_id=ride.id)
    ride_refund(ride_id=ride.id)

    body = client_for(ride.passenger).get(f"/api/v1/rides/{ride.id}/receipt").json()

    assert body["refunded_at"] is not None


def test_the_driver_sees_the_receipt_too(client_for):
    ride = make_completed_ride()

    assert client_for(ride.driver).get(f"/api/v1/rides/{ride.id}/receipt").status_code == 200


@pytest.mark.parametrize("outsider", [make_passenger, make_driver])
def test_someone_elses_receipt_is_404_ride_not_found_as_for_the_ride_itself(client_for, outsider):
    ride = make_completed_ride()
    client = client_for(outsider())

    receipt, ride_itself = client.get(f"/api/v1/rides/{ride.id}/receipt"), client.get(f"/api/v1/rides/{ride.id}")

    assert receipt.status_code == ride_itself.status_code == 404
    assert receipt.json()["error"] == ride_itself.json()["error"]
    assert receipt.json()["error"]["code"] == "ride_not_found"


def test_an_unknown_ride_has_no_receipt(client_for):
    response = client_for(make_passenger()).get(f"/api/v1/rides/{uuid.uuid4()}/receipt")

    assert response.status_code == 404


def test_a_ride_in_progress_has_no_receipt_yet(client_for):
    ride = make_completed_ride(status="in_progress")

    response = client_for(ride.passenger).get(f"/api/v1/rides/{ride.id}/receipt")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_ride_state"


def test_the_receipt_needs_a_token(api_client):
    ride = make_completed_ride()

    assert api_client.get(f"/api/v1/rides/{ride.id}/receipt").status_code == 401
