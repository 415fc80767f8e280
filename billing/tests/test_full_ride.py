"""The issue's "done when": a wallet ride driven through the rides API, ended at 75 %, is settled in the
background with the contract's numbers, and the ledger reconciles."""
from datetime import UTC, datetime, timedelta

import time_machine

from billing.selectors import ledger_findings
from billing.services import topup_create
from locations.services import location_ingest
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
        3336, 2502, 125, 2377)
    assert receipt["settled_at"] is not None
    assert balances == [10_000 - 2502, 2377]
    assert ledger_findings(settle_grace_seconds=0).is_clean
