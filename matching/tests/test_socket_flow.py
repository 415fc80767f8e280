"""The whole flow over the socket: a passenger and two drivers, from the request to a confirmed ride."""

import pytest
from channels.db import database_sync_to_async

from matching.tests.conftest import next_of_type
from matching.tests.helpers import ask_for_ride, driver_online, make_passenger

pytestmark = pytest.mark.usefixtures("matching_mode")  # both dispatch modes

db = database_sync_to_async


async def test_a_passenger_and_two_drivers_go_from_request_to_a_confirmed_ride_over_the_socket(ws, client_for):
    first = await db(driver_online)(300, user__full_name="Agus", vehicle_plate="B 1 AA")
    second = await db(driver_online)(600)
    passenger = await db(make_passenger)(full_name="Sari")
    passenger_socket, first_socket, second_socket = await ws(passenger), await ws(first), await ws(second)
    passenger_client = await db(client_for)(passenger)

    request = await db(ask_for_ride)(passenger_client)
    to_first = (await next_of_type(first_socket, "match.proposal"))["match"]
    to_second = (await next_of_type(second_socket, "match.proposal"))["match"]
    await first_socket.send_json_to({"type": "match.accept", "id": "a1", "match_id": to_first["id"]})
    ack = await next_of_type(first_socket, "ack")
    cancelled = await next_of_type(second_socket, "match.cancelled")
    accepted = await next_of_type(passenger_socket, "match.accepted")
    await second_socket.send_json_to({"type": "match.accept", "id": "late", "match_id": to_second["id"]})
    late = await next_of_type(second_socket, "error")
    confirm = await db(passenger_client.post)(f"/api/v1/rides/requests/{request['id']}/confirm")
    confirmed = [await next_of_type(s, "match.confirmed") for s in (passenger_socket, first_socket)]
    rides = [await next_of_type(s, "ride.updated") for s in (passenger_socket, first_socket)]

    assert to_first["request_id"] == to_second["request_id"] == request["id"]
    assert to_first["passenger"]["full_name"] == "Sari"
    assert ack["id"] == "a1" and ack["match"]["status"] == "accepted"
    assert cancelled["match"]["id"] == to_second["id"] and cancelled["match"]["reason"] == "taken"
    assert (
        accepted["match"]["driver"]["full_name"] == "Agus" and accepted["match"]["driver"]["vehicle_plate"] == "B 1 AA"
    )
    assert late["id"] == "late" and late["error"]["code"] == "match_not_pending"
    assert confirm.status_code == 201 and confirm.json()["status"] == "driver_en_route"
    assert all(event["match"]["status"] == "confirmed" for event in confirmed)
    assert all(event["ride"]["id"] == confirm.json()["id"] for event in rides)


async def test_a_driver_rejects_over_the_socket_and_the_ack_says_rejected(ws, client_for):
    driver = await db(driver_online)(300)
    socket = await ws(driver)
    await db(ask_for_ride)(await db(client_for)(await db(make_passenger)()))
    proposal = (await next_of_type(socket, "match.proposal"))["match"]

    await socket.send_json_to({"type": "match.reject", "id": 7, "match_id": proposal["id"]})
    ack = await next_of_type(socket, "ack")

    assert ack["id"] == 7 and ack["match"]["status"] == "rejected"


async def test_a_socket_accept_without_a_match_id_is_an_error_naming_it(ws):
    socket = await ws(await db(driver_online)(300))

    await socket.send_json_to({"type": "match.accept", "id": 1})
    error = await next_of_type(socket, "error")

    assert error["error"]["code"] == "invalid_input" and "match_id" in error["error"]["details"]


async def test_a_socket_accept_of_someone_elses_match_is_not_found(ws, client_for):
    driver, stranger = await db(driver_online)(300), await db(driver_online)(4000)
    driver_socket, stranger_socket = await ws(driver), await ws(stranger)
    await db(ask_for_ride)(await db(client_for)(await db(make_passenger)()))
    proposal = (await next_of_type(driver_socket, "match.proposal"))["match"]

    await stranger_socket.send_json_to({"type": "match.accept", "id": 1, "match_id": proposal["id"]})
    error = await next_of_type(stranger_socket, "error")

    assert error["error"]["code"] == "match_not_found"
