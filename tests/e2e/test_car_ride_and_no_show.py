"""End to end, over the socket and REST as the apps use them: a car ride (offered to the car, never to the nearer
bike, priced and settled under the car's fare policy, every line on the receipt and in the ledger) and a no-show
(the driver waits past the free window, reports it, and the passenger's fee reaches the driver once)."""

from datetime import UTC, datetime, timedelta

import time_machine
from channels.db import database_sync_to_async

from billing.models import LedgerTransaction
from billing.selectors import ledger_findings
from billing.tests.factories import entries_by_party
from matching.tests.conftest import next_of_type
from matching.tests.helpers import (
    DESTINATION,
    PICKUP,
    ask_for_ride,
    driver_online,
    make_passenger,
    proposals_of,
)
from rides.models import Ride
from rides.tests.arrival import driver_arrived

db = database_sync_to_async
T0 = datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC)  # 08:00 in Jakarta


async def test_a_car_ride_from_request_to_an_itemised_receipt_that_the_ledger_matches(ws, client_for):
    with time_machine.travel(T0, tick=False) as clock:
        bike = await db(driver_online)(50)  # nearer, but a bike
        car = await db(driver_online)(300, vehicle_type="car", vehicle_plate="B 777 CAR")
        passenger = await db(make_passenger)()
        passenger_socket, car_socket = await ws(passenger), await ws(car)
        passenger_client, car_client = await db(client_for)(passenger), await db(client_for)(car)

        request = await db(ask_for_ride)(passenger_client, product="car")
        proposal = (await next_of_type(car_socket, "match.proposal"))["match"]
        await car_socket.send_json_to({"type": "match.accept", "id": "a", "match_id": proposal["id"]})
        accepted = await next_of_type(passenger_socket, "match.accepted")
        confirmed = await db(passenger_client.post)(f"/api/v1/rides/requests/{request['id']}/confirm")
        ride_id = confirmed.json()["id"]
        clock.move_to(T0 + timedelta(seconds=30))  # 300 m to the pickup
        await car_socket.send_json_to({"type": "location", "id": "p", "lat": PICKUP[0], "lng": PICKUP[1]})
        await next_of_type(car_socket, "ack")
        started = await db(car_client.post)(f"/api/v1/rides/{ride_id}/start")
        clock.move_to(T0 + timedelta(seconds=150))
        await car_socket.send_json_to({"type": "location", "id": "d", "lat": DESTINATION[0], "lng": DESTINATION[1]})
        await next_of_type(car_socket, "ack")
        ended = await db(car_client.post)(f"/api/v1/rides/{ride_id}/end", {"price_pct": 100}, format="json")
        completed = await next_of_type(passenger_socket, "ride.updated")
        while completed["ride"]["status"] != "completed":
            completed = await next_of_type(passenger_socket, "ride.updated")
        receipt = (await db(passenger_client.get)(f"/api/v1/rides/{ride_id}/receipt")).json()
        ride = await db(Ride.objects.get)(pk=ride_id)
        settlement = await db(LedgerTransaction.objects.get)(ride_id=ride_id, purpose="settlement")
        entries = await db(entries_by_party)(settlement, ride=ride)
        bike_proposals = await db(proposals_of)(bike)
        findings = await db(ledger_findings)(settle_grace_seconds=0)

    assert request["product"] == "car" and request["fare_estimate"]["amount"] == 15000
    assert bike_proposals == []
    assert accepted["match"]["driver"]["vehicle_type"] == "car"
    assert confirmed.status_code == 201 and started.status_code == 200 and ended.status_code == 200
    assert completed["ride"]["product"] == "car"
    lines = {line["kind"]: line["amount"] for line in receipt["lines"]}
    assert lines == {
        "base": 5000,
        "distance": 6672,
        "time_of_day": 0,
        "surge": 0,
        "minimum_top_up": 3328,
        "waiting": 0,
        "price_adjustment": 0,
        "admin_fee": 750,
    }
    assert (
        receipt["product"],
        receipt["policy_version"],
        receipt["metered_fare"],
        receipt["charged_amount"],
        receipt["driver_payout"],
    ) == ("car", 1, 15000, 15000, 14250)
    assert entries == {"driver": ("admin_fee", -750), "platform": ("admin_fee", 750)}  # cash: the ledger's share
    assert findings.is_clean


async def test_a_no_show_cancels_the_ride_and_pays_the_waiting_driver_once(ws, client_for):
    with time_machine.travel(T0, tick=False) as clock:
        driver = await db(driver_online)(300)
        passenger = await db(make_passenger)()
        passenger_socket, driver_socket = await ws(passenger), await ws(driver)
        passenger_client = await db(client_for)(passenger)
        request = await db(ask_for_ride)(passenger_client, payment_method="cash")
        proposal = (await next_of_type(driver_socket, "match.proposal"))["match"]
        await driver_socket.send_json_to({"type": "match.accept", "id": "a", "match_id": proposal["id"]})
        await next_of_type(passenger_socket, "match.accepted")
        ride_id = (await db(passenger_client.post)(f"/api/v1/rides/requests/{request['id']}/confirm")).json()["id"]
        ride = await db(Ride.objects.get)(pk=ride_id)
        await db(driver_arrived)(ride, T0)  # the live trip's arrival detection sets this at 100 m from the pickup
        shown = (await db(passenger_client.get)(f"/api/v1/rides/{ride_id}")).json()

        clock.move_to(T0 + timedelta(seconds=200))
        early = await db((await db(client_for)(driver)).post)(f"/api/v1/rides/{ride_id}/no-show")
        clock.move_to(T0 + timedelta(seconds=420))
        driver_client = await db(client_for)(driver)
        reported = await db(driver_client.post)(f"/api/v1/rides/{ride_id}/no-show")
        again = await db(driver_client.post)(f"/api/v1/rides/{ride_id}/no-show")
        told = await next_of_type(passenger_socket, "ride.updated")
        while told["ride"]["status"] != "cancelled":
            told = await next_of_type(passenger_socket, "ride.updated")
        fees = await db(list)(LedgerTransaction.objects.filter(ride_id=ride_id, purpose="cancellation_fee"))
        passenger_wallet = (await db((await db(client_for)(passenger)).get)("/api/v1/wallet")).json()
        driver_wallet = (await db(driver_client.get)("/api/v1/wallet")).json()
        findings = await db(ledger_findings)(settle_grace_seconds=0)

    assert shown["free_waiting_ends_at"] == "2026-11-20T01:05:00Z"
    assert early.status_code == 409 and early.json()["error"]["code"] == "free_waiting_not_over"
    assert reported.status_code == 200 and again.status_code == 409
    assert (told["ride"]["cancel_reason"], told["ride"]["cancellation_fee"]) == ("no_show", 5000)
    assert len(fees) == 1
    assert (passenger_wallet["balance"], driver_wallet["balance"]) == (-5000, 5000)
    assert findings.is_clean
