"""Every kind of push the server stores reaches a socket (by `resume`) in a shape the AsyncAPI document describes.

The frames are checked by the suite-wide socket check (conftest.py, gateway/tests/socket_contract.py).
"""

import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone

from gateway.asyncapi import asyncapi_document, server_message_names
from locations.services import location_ingest
from matching import tasks
from matching.tests.helpers import PICKUP, ask_for_ride, driver_online, last_proposal, make_passenger, north_of
from nebengjek.models import Event

db = database_sync_to_async


def _driver_at(clock, driver, metres_north_of_pickup, *, after_seconds):
    clock.shift(after_seconds)
    assert location_ingest(user=driver, lat=north_of(PICKUP, metres_north_of_pickup)[0], lng=PICKUP[1])


def _accepted(driver_client, passenger_client, driver):
    request = ask_for_ride(passenger_client)
    assert driver_client.post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept").status_code == 200
    return request


def _rides_of_every_outcome(client_for):
    """One driver and one passenger through every outcome: unanswered (no_driver), cancelled while proposed,
    unconfirmed, a ride cancelled before the start and a ride completed at 75 %. Returns (driver, passenger)."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        driver, passenger = driver_online(300), make_passenger()
        driver_client, passenger_client = client_for(driver), client_for(passenger)

        ask_for_ride(passenger_client)  # unanswered: expired proposal, then no_driver
        for _ in range(3):
            clock.shift(16)
            tasks.sweep()

        _driver_at(clock, driver, 300, after_seconds=1)  # cancelled while the proposal is out
        request = ask_for_ride(passenger_client)
        assert passenger_client.post(f"/api/v1/rides/requests/{request['id']}/cancel").status_code == 200

        _driver_at(clock, driver, 300, after_seconds=1)  # accepted, never confirmed
        _accepted(driver_client, passenger_client, driver)
        clock.shift(61)
        tasks.sweep()

        _driver_at(clock, driver, 300, after_seconds=1)  # confirmed, then cancelled before the start
        request = _accepted(driver_client, passenger_client, driver)
        ride = passenger_client.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()
        assert passenger_client.post(f"/api/v1/rides/{ride['id']}/cancel").status_code == 200

        _driver_at(clock, driver, 300, after_seconds=1)  # completed
        request = _accepted(driver_client, passenger_client, driver)
        ride = passenger_client.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()
        _driver_at(clock, driver, 0, after_seconds=30)  # at the pickup: ride.driver_arrived
        said = passenger_client.post(f"/api/v1/rides/{ride['id']}/messages", {"text": "Coming"}, format="json")
        assert (
            driver_client.post(
                f"/api/v1/rides/{ride['id']}/messages/receipt",
                {"message_id": said.json()["id"], "status": "read"},
                format="json",
            ).status_code
            == 200
        )
        assert driver_client.post(f"/api/v1/rides/{ride['id']}/start").status_code == 200
        _driver_at(clock, driver, -1111.95, after_seconds=60)
        ended = driver_client.post(f"/api/v1/rides/{ride['id']}/end", {"price_pct": 75}, format="json")
        assert ended.status_code == 200, ended.content
    return driver, passenger


async def _replayed(socket):
    """Every stored event of the socket's user, replayed by `resume`, up to its ack."""
    await socket.send_json_to({"type": "resume", "id": "r", "after": 0})
    events = []
    while (message := await socket.receive_json_from(timeout=5))["type"] != "ack":
        events.append(message)
    return events


async def test_every_stored_push_type_reaches_a_socket_in_its_documented_shape(ws, client_for):
    driver, passenger = await db(_rides_of_every_outcome)(client_for)

    replayed = [*(await _replayed(await ws(driver))), *(await _replayed(await ws(passenger)))]

    stored_types = {message["type"] for message in replayed}
    messages = asyncapi_document()["components"]["messages"]
    live_only = {"ack", "error", "ops.snapshot", "ride.driver_location"}  # not stored, never replayed
    pushed_types = {messages[name]["name"] for name in server_message_names()} - live_only
    assert len(replayed) == await db(Event.objects.count)()
    assert stored_types == pushed_types
    ride_statuses = {message["ride"]["status"] for message in replayed if message["type"] == "ride.updated"}
    assert ride_statuses == {"driver_en_route", "in_progress", "completed", "cancelled"}
