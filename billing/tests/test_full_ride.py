"""The issue's "done when": a wallet ride driven through the rides API, ended at 75 %, is settled in the
background with the contract's numbers, and the ledger reconciles."""

from datetime import UTC, datetime, timedelta

import time_machine

from billing.models import LedgerTransaction
from billing.selectors import ledger_findings
from billing.services import topup_create
from billing.tests.factories import entries_by_party
from locations.services import location_ingest
from matching.tests.helpers import ask_for_ride, driver_online, last_proposal, make_passenger
from rides.tests.factories import make_confirmed_ride

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)


def test_a_wallet_ride_ended_at_75_percent_is_settled_with_the_contract_numbers(client_for):
    with time_machine.travel(T0, tick=False) as clock:
        ride = make_confirmed_ride(payment_method="wallet")
        topup_create(user_id=ride.passenger_id, amount=10_000, idempotency_key="before-the-ride")
        driver, passenger = client_for(ride.driver), client_for(ride.passenger)
        location_ingest(user=ride.driver, lat=-6.2, lng=106.8)
        assert driver.post(f"/api/v1/rides/{ride.id}/start").status_code == 200
        clock.move_to(T0 + timedelta(seconds=60))
        location_ingest(user=ride.driver, lat=-6.21, lng=106.8)  # one 1,111.95 m segment

        ended = driver.post(f"/api/v1/rides/{ride.id}/end", {"price_pct": 75}, format="json")
        receipt = passenger.get(f"/api/v1/rides/{ride.id}/receipt").json()
        balances = [client.get("/api/v1/wallet").json()["balance"] for client in (passenger, driver)]

    assert ended.status_code == 200, ended.content
    assert (receipt["metered_fare"], receipt["charged_amount"], receipt["admin_fee"], receipt["driver_payout"]) == (
        3336,
        2502,
        125,
        2377,
    )
    assert receipt["settled_at"] is not None
    assert balances == [10_000 - 2502, 2377]
    assert ledger_findings(settle_grace_seconds=0).is_clean


def test_a_ride_started_and_ended_at_once_charges_the_minimum_fare_and_settles_it(client_for):
    with time_machine.travel(T0, tick=False):
        ride = make_confirmed_ride(payment_method="cash")
        driver = client_for(ride.driver)
        location_ingest(user=ride.driver, lat=-6.2, lng=106.8)
        assert driver.post(f"/api/v1/rides/{ride.id}/start").status_code == 200

        ended = driver.post(f"/api/v1/rides/{ride.id}/end", {}, format="json").json()
        settlement = LedgerTransaction.objects.get(ride_id=ride.id, purpose="settlement")

    assert ended["distance_m"] == 0 and ended["fare"]["metered_fare"] == 3000
    assert (ended["fare"]["charged_amount"], ended["fare"]["admin_fee"], ended["fare"]["driver_payout"]) == (
        3000,
        150,
        2850,
    )
    assert entries_by_party(settlement, ride=ride) == {"driver": ("admin_fee", -150), "platform": ("admin_fee", 150)}
    assert ledger_findings(settle_grace_seconds=0).is_clean


def test_a_requested_wallet_ride_ended_at_once_at_1_percent_still_settles_real_entries(client_for):
    with time_machine.travel(T0, tick=False):
        driver_user = driver_online(50)
        passenger_user = make_passenger()
        topup_create(user_id=passenger_user.id, amount=10_000, idempotency_key="before-the-ride")
        passenger, driver = client_for(passenger_user), client_for(driver_user)
        request = ask_for_ride(passenger, payment_method="wallet")
        assert driver.post(f"/api/v1/matches/{last_proposal(driver_user)['id']}/accept").status_code == 200
        ride_id = passenger.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()["id"]
        assert driver.post(f"/api/v1/rides/{ride_id}/start").status_code == 200

        ended = driver.post(f"/api/v1/rides/{ride_id}/end", {"price_pct": 1}, format="json").json()
        settlement = LedgerTransaction.objects.get(ride_id=ride_id, purpose="settlement")

    assert request["fare_estimate"]["amount"] == 3336
    assert (ended["fare"]["metered_fare"], ended["fare"]["charged_amount"], ended["fare"]["admin_fee"]) == (3000, 30, 1)
    assert sorted(settlement.entries.values_list("amount", flat=True)) == [-30, 1, 29]
    assert ledger_findings(settle_grace_seconds=0).is_clean
