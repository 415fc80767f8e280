"""In-ride chat: over the socket and REST, stored and pushed with a seq to the other side only, receipts, limits,
the window from confirm to 30 minutes after the end, and the operator's audited read in the admin."""

from datetime import timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.tests.factories import make_passenger
from rides.models import ChatMessage, ChatReadAudit
from rides.tests.factories import make_confirmed_ride

db = database_sync_to_async


def make_operator():
    from accounts.models import User

    return User.objects.create_superuser("+628121111112", password="operator-pass-1")


async def next_of_type(socket, kind, timeout=5):
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def test_a_message_sent_over_the_socket_reaches_the_other_side_with_a_seq(ws):
    ride = await db(make_confirmed_ride)()
    passenger, driver = await ws(ride.passenger), await ws(ride.driver)

    await passenger.send_json_to({"type": "chat.send", "id": 1, "ride_id": str(ride.id), "text": "I'm at the gate"})

    ack = await next_of_type(passenger, "ack")
    pushed = await next_of_type(driver, "chat.message")
    assert ack["message"]["text"] == "I'm at the gate" and ack["message"]["sender"] == "passenger"
    assert pushed["seq"] >= 1 and pushed["message"] == ack["message"]
    assert "msisdn" not in str(pushed) and str(ride.passenger.msisdn) not in str(pushed)


async def test_a_quick_reply_is_stored_with_its_text_and_code(ws):
    ride = await db(make_confirmed_ride)()
    driver = await ws(ride.driver)

    await driver.send_json_to({"type": "chat.send", "id": 1, "ride_id": str(ride.id), "quick_reply": "on_my_way"})

    ack = await next_of_type(driver, "ack")
    assert ack["message"]["quick_reply"] == "on_my_way" and ack["message"]["text"] == "I'm on my way."


@pytest.mark.parametrize(
    "body",
    [
        {"text": ""},
        {"text": "x" * 501},
        {"quick_reply": "call_me"},
        {"text": "hi", "quick_reply": "thanks"},
        {},
        {"text": 5},
    ],
)
def test_a_bad_message_is_a_400_invalid_chat_message(client_for, body):
    ride = make_confirmed_ride()

    response = client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", body, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_chat_message"


def test_a_text_of_500_characters_is_accepted(client_for):
    ride = make_confirmed_ride()

    response = client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", {"text": "x" * 500}, format="json")

    assert response.status_code == 201


def test_the_history_is_paginated_oldest_first_for_both_sides(client_for, settings):
    settings.RIDE_CHAT_PAGE_SIZE = 2
    from rides import chat_apis

    chat_apis.ChatPagination.page_size = 2
    try:
        ride = make_confirmed_ride()
        passenger, driver = client_for(ride.passenger), client_for(ride.driver)
        for text in ("one", "two", "three"):
            assert passenger.post(f"/api/v1/rides/{ride.id}/messages", {"text": text}, format="json").status_code == 201

        first = driver.get(f"/api/v1/rides/{ride.id}/messages").json()
        second = driver.get(first["next"]).json()
    finally:
        chat_apis.ChatPagination.page_size = 50

    assert first["count"] == 3 and [m["text"] for m in first["results"]] == ["one", "two"]
    assert [m["text"] for m in second["results"]] == ["three"]


def test_nobody_else_reads_or_writes_a_rides_chat(client_for):
    ride = make_confirmed_ride()
    client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", {"text": "secret"}, format="json")
    stranger = client_for(make_passenger())

    read = stranger.get(f"/api/v1/rides/{ride.id}/messages")
    written = stranger.post(f"/api/v1/rides/{ride.id}/messages", {"text": "hi"}, format="json")

    assert read.status_code == written.status_code == 404
    assert read.json()["error"]["code"] == "ride_not_found"
    assert ChatMessage.objects.count() == 1


def test_the_same_client_id_is_not_stored_twice(client_for):
    ride = make_confirmed_ride()
    passenger = client_for(ride.passenger)
    body = {"text": "hello", "client_id": "m-1"}

    first = passenger.post(f"/api/v1/rides/{ride.id}/messages", body, format="json").json()
    again = passenger.post(f"/api/v1/rides/{ride.id}/messages", body, format="json").json()

    assert first["id"] == again["id"] and ChatMessage.objects.count() == 1


def test_sending_is_rate_limited_per_sender(client_for, settings):
    settings.RIDE_CHAT_RATE_PER_MINUTE = 2
    ride = make_confirmed_ride()
    passenger, driver = client_for(ride.passenger), client_for(ride.driver)
    url = f"/api/v1/rides/{ride.id}/messages"

    codes = [passenger.post(url, {"text": f"m{i}"}, format="json").status_code for i in range(3)]
    limited = passenger.post(url, {"text": "again"}, format="json")

    assert codes == [201, 201, 429]
    assert limited.json()["error"]["code"] == "chat_rate_limited" and int(limited["Retry-After"]) >= 1
    assert driver.post(url, {"text": "driver's own budget"}, format="json").status_code == 201


def test_the_chat_closes_30_minutes_after_the_end(client_for):
    ride = make_confirmed_ride()
    assert client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/cancel", {}, format="json").status_code == 200
    url = f"/api/v1/rides/{ride.id}/messages"

    with time_machine.travel(timezone.now() + timedelta(minutes=29)):
        still_open = client_for(ride.driver).post(url, {"text": "sorry"}, format="json")
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        closed = client_for(ride.driver).post(url, {"text": "late"}, format="json")
        history = client_for(ride.passenger).get(url)

    assert still_open.status_code == 201
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "chat_closed"
    assert history.status_code == 200 and history.json()["count"] == 1


async def test_receipts_mark_messages_and_tell_the_sender(ws):
    ride = await db(make_confirmed_ride)()
    passenger, driver = await ws(ride.passenger), await ws(ride.driver)
    await passenger.send_json_to({"type": "chat.send", "id": 1, "ride_id": str(ride.id), "text": "one"})
    await passenger.send_json_to({"type": "chat.send", "id": 2, "ride_id": str(ride.id), "text": "two"})
    await next_of_type(driver, "chat.message")
    second = await next_of_type(driver, "chat.message")

    await driver.send_json_to(
        {
            "type": "chat.receipt",
            "id": 3,
            "ride_id": str(ride.id),
            "message_id": second["message"]["id"],
            "status": "read",
        }
    )

    assert (await next_of_type(driver, "ack"))["updated"] == 2
    receipt = await next_of_type(passenger, "chat.receipt")
    assert receipt["status"] == "read" and receipt["message_id"] == second["message"]["id"] and receipt["seq"] >= 1
    stored = await db(list)(ChatMessage.objects.order_by("created_at").values_list("delivered_at", "read_at"))
    assert all(delivered and read for delivered, read in stored)


async def test_a_receipt_for_ones_own_message_is_not_found(ws):
    ride = await db(make_confirmed_ride)()
    passenger = await ws(ride.passenger)
    await passenger.send_json_to({"type": "chat.send", "id": 1, "ride_id": str(ride.id), "text": "mine"})
    mine = (await next_of_type(passenger, "ack"))["message"]["id"]

    await passenger.send_json_to(
        {"type": "chat.receipt", "id": 2, "ride_id": str(ride.id), "message_id": mine, "status": "read"}
    )

    error = await next_of_type(passenger, "error")
    assert error["id"] == 2 and error["error"]["code"] == "chat_message_not_found"


async def test_a_missed_message_is_replayed_by_resume_after_a_reconnect(ws):
    ride = await db(make_confirmed_ride)()
    driver = await ws(ride.driver)
    await driver.send_json_to({"type": "ping", "id": 0})
    await next_of_type(driver, "ack")
    await driver.disconnect()
    passenger = await ws(ride.passenger)
    await passenger.send_json_to({"type": "chat.send", "id": 1, "ride_id": str(ride.id), "text": "while you were away"})
    await next_of_type(passenger, "ack")

    driver = await ws(ride.driver)
    await driver.send_json_to({"type": "resume", "after": 1, "id": "r"})

    replayed = await next_of_type(driver, "chat.message")
    assert replayed["message"]["text"] == "while you were away"


def test_an_operator_reads_a_rides_chat_in_the_admin_and_the_read_is_recorded(client_for):
    from django.test import Client

    ride = make_confirmed_ride()
    client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", {"text": "he was rude"}, format="json")
    operator = make_operator()
    browser = Client()
    browser.force_login(operator)

    page = browser.get(f"/admin/rides/ride/{ride.id}/chat/")

    assert page.status_code == 200 and "he was rude" in page.content.decode()
    audit = ChatReadAudit.objects.get()
    assert (audit.operator_id, audit.ride_id, audit.messages) == (operator.pk, ride.pk, 1)


def test_the_rides_admin_page_does_not_show_the_chat_itself(client_for):
    from django.test import Client

    ride = make_confirmed_ride()
    client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", {"text": "private words"}, format="json")
    browser = Client()
    browser.force_login(make_operator())

    page = browser.get(f"/admin/rides/ride/{ride.id}/change/")

    assert page.status_code == 200 and "private words" not in page.content.decode()
    assert ChatReadAudit.objects.count() == 0


def test_the_chat_message_admin_lists_messages_without_their_text(client_for):
    from django.test import Client

    ride = make_confirmed_ride()
    client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/messages", {"text": "private words"}, format="json")
    message = ChatMessage.objects.get()
    browser = Client()
    browser.force_login(make_operator())

    listed = browser.get("/admin/rides/chatmessage/")
    shown = browser.get(f"/admin/rides/chatmessage/{message.pk}/change/")

    assert listed.status_code == shown.status_code == 200
    assert "private words" not in listed.content.decode() + shown.content.decode()
    assert ChatReadAudit.objects.count() == 0
