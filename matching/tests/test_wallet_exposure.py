"""A wallet request counts what the passenger already owes: the charges of completed wallet rides that the
background settlement has not posted yet (one balance cannot pay for two rides)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from billing import tasks as billing_tasks
from billing.selectors import wallet_balance
from locations.services import location_ingest
from matching.tests.helpers import make_passenger, request_body
from nebengjek.celery import app as celery_app
from rides.tests.factories import make_in_progress_ride

ONE_FARE = 3336  # PICKUP -> DESTINATION: 1,111.95 m (../shared/API.md "Fare")


@pytest.fixture
def settlement_deferred(monkeypatch):
    """Tasks are published to the broker and wait there, as when the worker has not run them yet (the test
    settings run Celery eagerly: every ride would be settled inside its own end call)."""

    def defer():
        monkeypatch.setitem(celery_app.conf, "task_always_eager", False)

    return defer


def _topup(client, amount, key):
    response = client.post("/api/v1/wallet/topups", {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201, response.content


def _wallet_request(client):
    return client.post("/api/v1/rides/requests", request_body(payment_method="wallet"), format="json")


@pytest.fixture
def wallet_ride_unsettled(client_for, settings, settlement_deferred):
    """A passenger who topped up exactly one fare and took a one-fare wallet ride, metered over one segment and
    ended by its driver; its settlement not yet run. The clock stands still (moved by hand) for the whole test."""
    settings.WALLET_TOPUP_MIN = 1_000
    passenger = make_passenger()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        client = client_for(passenger)
        _topup(client, ONE_FARE, key="one-fare")
        ride = make_in_progress_ride(passenger=passenger, payment_method="wallet")
        clock.shift(timedelta(seconds=60))
        location_ingest(user=ride.driver, lat=-6.21, lng=106.8)
        settlement_deferred()
        ended = client_for(ride.driver).post(f"/api/v1/rides/{ride.id}/end", {"price_pct": 100}, format="json")
        assert ended.status_code == 200 and ended.json()["fare"]["charged_amount"] == ONE_FARE, ended.content
        yield client, ride


def test_a_completed_wallet_ride_not_yet_settled_holds_its_charge_against_the_next_request(wallet_ride_unsettled):
    client, ride = wallet_ride_unsettled

    response = _wallet_request(client)

    assert wallet_balance(user_id=ride.passenger_id) == ONE_FARE  # the ride's charge is not posted yet
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "insufficient_balance"
    assert response.json()["error"]["details"] == {
        "balance": ONE_FARE,
        "held": ONE_FARE,
        "available": 0,
        "fare_estimate": ONE_FARE,
    }


def test_once_the_ride_is_settled_the_balance_alone_decides(wallet_ride_unsettled):
    client, ride = wallet_ride_unsettled

    billing_tasks.settle_ride(str(ride.id))  # the worker gets to it
    refused = _wallet_request(client)
    _topup(client, ONE_FARE, key="second-fare")
    accepted = _wallet_request(client)

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"balance": 0, "held": 0, "available": 0, "fare_estimate": ONE_FARE}
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["payment_method"] == "wallet"
