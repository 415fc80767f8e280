"""Pushed events reach the user's sockets through the real Redis channel layer; missed ones are replayed by seq."""

from datetime import timedelta
from urllib.parse import urlsplit

import time_machine
from celery import shared_task
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from nebengjek.models import Event
from nebengjek.realtime import send_event_on_commit
from nebengjek.tasks import events_prune

db = database_sync_to_async


@shared_task(name="locations.tests.notify")
def notify(user_id, text):
    send_event_on_commit([user_id], "test.note", {"text": text})


async def reply(socket):
    return await socket.receive_json_from(timeout=5)


async def test_an_event_sent_from_a_celery_task_reaches_the_socket(ws):
    user = await db(make_passenger)()
    socket = await ws(user)

    await db(notify.delay)(str(user.id), "hello")

    assert await reply(socket) == {"type": "test.note", "seq": 1, "text": "hello"}


async def test_an_event_caused_by_a_rest_request_reaches_every_socket_of_the_user(ws, client_for):
    driver = await db(make_driver)()
    phone, tablet = await ws(driver), await ws(driver)

    client = await db(client_for)(driver)

    response = await db(client.post)("/api/v1/drivers/me/beacon", {"active": True}, format="json")

    assert response.status_code == 200
    assert await reply(phone) == {"type": "beacon.updated", "seq": 1, "active": True}
    assert await reply(tablet) == {"type": "beacon.updated", "seq": 1, "active": True}


async def test_an_event_for_someone_else_does_not_reach_my_socket(ws):
    me, other = await db(make_passenger)(), await db(make_passenger)()
    socket = await ws(me)

    await db(send_event_on_commit)([other.id], "test.note", {"text": "not yours"})
    await socket.send_json_to({"type": "ping", "id": 1})

    assert await reply(socket) == {"type": "ack", "id": 1}


async def test_resume_replays_missed_events_in_order_before_the_ack(ws):
    user = await db(make_passenger)()
    for text in ["one", "two", "three"]:
        await db(send_event_on_commit)([user.id], "test.note", {"text": text})
    socket = await ws(user)

    await socket.send_json_to({"type": "resume", "id": "r", "after": 1})

    assert [await reply(socket) for _ in range(3)] == [
        {"type": "test.note", "seq": 2, "text": "two"},
        {"type": "test.note", "seq": 3, "text": "three"},
        {"type": "ack", "id": "r", "replayed": 2, "last_seq": 3},
    ]


async def test_after_resume_new_events_follow_without_duplicates(ws):
    user = await db(make_passenger)()
    await db(send_event_on_commit)([user.id], "test.note", {"text": "missed"})
    socket = await ws(user)
    await socket.send_json_to({"type": "resume", "id": "r", "after": 0})
    assert (await reply(socket))["seq"] == 1
    assert (await reply(socket))["type"] == "ack"

    await db(send_event_on_commit)([user.id], "test.note", {"text": "new"})

    assert await reply(socket) == {"type": "test.note", "seq": 2, "text": "new"}
    assert await socket.receive_nothing(timeout=0.2)


async def test_resume_with_a_bad_after_is_invalid_input(ws):
    socket = await ws(await db(make_passenger)())

    await socket.send_json_to({"type": "resume", "id": 1, "after": "yesterday"})

    assert (await reply(socket))["error"]["code"] == "invalid_input"


def relative(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_events_api_lists_my_events_after_a_seq_in_pages(client_for, settings):
    user = make_passenger()
    for n in range(5):
        send_event_on_commit([user.id], "test.note", {"n": n})
    client = client_for(user)

    first = client.get("/api/v1/events?after=1&limit=2").json()
    second = client.get(relative(first["next"])).json()
    beyond = client.get("/api/v1/events?after=5").json()

    assert [event["seq"] for event in first["results"]] == [2, 3]
    assert [event["seq"] for event in second["results"]] == [4, 5]
    assert first["results"][0] == {"type": "test.note", "seq": 2, "n": 1}
    assert second["next"] is None
    assert beyond == {"count": 0, "next": None, "previous": None, "results": []}


def test_events_api_refuses_a_negative_after(client_for):
    response = client_for(make_passenger()).get("/api/v1/events?after=-1")

    assert response.status_code == 400 and "after" in response.json()["error"]["details"]


def test_the_prune_task_deletes_events_older_than_24_hours():
    user = make_passenger()
    send_event_on_commit([user.id], "test.note", {"text": "old"})

    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        send_event_on_commit([user.id], "test.note", {"text": "new"})
        events_prune.delay()

    assert list(Event.objects.filter(user=user).values_list("seq", flat=True)) == [2]
