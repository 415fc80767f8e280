"""End to end through the public surface (REST and /ws/ of the real ASGI app): a passenger requests and confirms,
watches the driver approach on the socket until the arrival, shares the trip with someone who has no account, and
the two sides chat with the driver's socket dropping in the middle: the missed messages come back on `resume`,
receipts reach the sender, and the history holds every message once."""

import weakref
from datetime import timedelta

from channels.db import database_sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import make_driver, make_passenger

db = database_sync_to_async
PICKUP, DESTINATION = (-6.2000, 106.8000), (-6.2100, 106.8000)
# The driver's way in, 10 s apart: 440 m, 330 m, 220 m, 110 m and 33 m north of the pickup.
APPROACH = [(-6.1960, 106.8), (-6.1970, 106.8), (-6.1980, 106.8), (-6.1990, 106.8), (-6.1997, 106.8)]


async def next_of_type(socket, kind, timeout=5):
    """The next message of `kind`; the ones of other kinds read on the way are kept for a later call (a live push
    and a stored event sent for the same position travel separately, so either may come first)."""
    held = _held.setdefault(socket, [])
    for index, message in enumerate(held):
        if message["type"] == kind:
            return held.pop(index)
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message
        held.append(message)


_held: "weakref.WeakKeyDictionary[object, list[dict]]" = weakref.WeakKeyDictionary()


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


async def test_watch_the_driver_come_share_the_trip_and_chat_across_a_reconnect(ws, client_for, settings):
    settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS = 0  # every position is pushed: the test counts them
    driver_user, passenger_user = await db(make_driver)(), await db(make_passenger)()
    driver, passenger = await db(client_for)(driver_user), await db(client_for)(passenger_user)
    started = timezone.now() - timedelta(seconds=len(APPROACH) * 10 + 2)  # fresh enough to be proposed
    assert (await db(driver.post)("/api/v1/drivers/me/beacon", {"active": True}, format="json")).status_code == 200
    first = {"lat": -6.1950, "lng": 106.8, "recorded_at": _iso(started)}
    assert (await db(driver.post)("/api/v1/locations", first, format="json")).json() == {"accepted": True}

    # The ride: requested, proposed, accepted over the driver's socket, confirmed.
    driver_socket, passenger_socket = await ws(driver_user), await ws(passenger_user)
    asked = await db(passenger.post)(
        "/api/v1/rides/requests",
        {"pickup": {"lat": PICKUP[0], "lng": PICKUP[1]}, "destination": {"lat": DESTINATION[0], "lng": DESTINATION[1]}},
        format="json",
    )
    assert asked.status_code == 201, asked.content
    proposal = await next_of_type(driver_socket, "match.proposal")
    await driver_socket.send_json_to({"type": "match.accept", "id": "a", "match_id": proposal["match"]["id"]})
    assert (await next_of_type(driver_socket, "ack"))["id"] == "a"
    confirmed = await db(passenger.post)(f"/api/v1/rides/requests/{asked.json()['id']}/confirm")
    assert confirmed.status_code == 201, confirmed.content
    ride_id = confirmed.json()["id"]

    # The passenger watches the driver come: the position at the confirm, then each one, nearer every time.
    at_confirm = await next_of_type(passenger_socket, "ride.driver_location")
    assert at_confirm["driver_position"]["lat"] == first["lat"]
    distances = [at_confirm["driver_position"]["distance_to_pickup_m"]]
    for number, (lat, lng) in enumerate(APPROACH, start=1):
        recorded_at = _iso(started + timedelta(seconds=10 * number))
        await driver_socket.send_json_to(
            {"type": "location", "id": f"l{number}", "lat": lat, "lng": lng, "recorded_at": recorded_at}
        )
        assert (await next_of_type(driver_socket, "ack"))["accepted"] is True
        pushed = await next_of_type(passenger_socket, "ride.driver_location")
        assert pushed["ride_id"] == ride_id and pushed["driver_position"]["heading"] is not None
        distances.append(pushed["driver_position"]["distance_to_pickup_m"])
    assert distances == sorted(distances, reverse=True) and distances[-1] < 100
    arrived = await next_of_type(passenger_socket, "ride.driver_arrived")
    assert arrived["ride_id"] == ride_id and (await next_of_type(driver_socket, "ride.driver_arrived"))["seq"]
    detail = (await db(passenger.get)(f"/api/v1/rides/{ride_id}")).json()
    assert detail["driver_arrived_at"] is not None and detail["driver_position"]["lat"] == APPROACH[-1][0]

    # Shared with someone without an account: they see where the driver is, and nothing about the passenger.
    link = (await db(passenger.post)(f"/api/v1/rides/{ride_id}/share")).json()
    public = await db(APIClient().get)(f"/share/{link['token']}/state")
    assert public.status_code == 200 and public.json()["driver_position"]["lat"] == APPROACH[-1][0]
    assert passenger_user.msisdn not in public.content.decode() and driver_user.msisdn not in public.content.decode()

    # The chat, with the driver's socket gone in the middle.
    await passenger_socket.send_json_to({"type": "chat.send", "id": "c1", "ride_id": ride_id, "text": "Blue gate"})
    assert (await next_of_type(passenger_socket, "ack"))["message"]["text"] == "Blue gate"
    seen = await next_of_type(driver_socket, "chat.message")
    await driver_socket.disconnect()
    for number, text in enumerate(["Next to the bakery", "I'm wearing red"], start=2):
        await passenger_socket.send_json_to(
            {"type": "chat.send", "id": f"c{number}", "ride_id": ride_id, "text": text, "client_id": f"p-{number}"}
        )
        await next_of_type(passenger_socket, "ack")
    driver_socket = await ws(driver_user)
    await driver_socket.send_json_to({"type": "resume", "id": "r", "after": seen["seq"]})
    missed = [await next_of_type(driver_socket, "chat.message") for _ in range(2)]
    assert [m["message"]["text"] for m in missed] == ["Next to the bakery", "I'm wearing red"]
    assert (await next_of_type(driver_socket, "ack"))["replayed"] == 2
    await driver_socket.send_json_to(
        {
            "type": "chat.receipt",
            "id": "rr",
            "ride_id": ride_id,
            "message_id": missed[-1]["message"]["id"],
            "status": "read",
        }
    )
    assert (await next_of_type(driver_socket, "ack"))["updated"] == 3
    receipt = await next_of_type(passenger_socket, "chat.receipt")
    assert receipt["status"] == "read" and receipt["message_id"] == missed[-1]["message"]["id"]
    await driver_socket.send_json_to({"type": "chat.send", "id": "d1", "ride_id": ride_id, "quick_reply": "on_my_way"})
    reply = await next_of_type(passenger_socket, "chat.message")
    assert reply["message"]["sender"] == "driver" and reply["message"]["text"] == "I'm on my way."

    history = (await db(passenger.get)(f"/api/v1/rides/{ride_id}/messages")).json()
    assert [m["text"] for m in history["results"]] == [
        "Blue gate",
        "Next to the bakery",
        "I'm wearing red",
        "I'm on my way.",
    ]
    assert all(m["read_at"] for m in history["results"][:3])
    stranger = await db(client_for)(await db(make_passenger)())
    assert (await db(stranger.get)(f"/api/v1/rides/{ride_id}/messages")).status_code == 404
