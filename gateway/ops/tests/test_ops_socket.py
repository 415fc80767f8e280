"""The staff socket: the page's token opens `/ws/`, and staff sockets (only) receive the broadcaster's snapshots."""

import orjson
import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts.tests.factories import make_driver, make_passenger
from gateway.ops import tasks
from locations.services import beacon_set, location_ingest

db = database_sync_to_async
MONAS = (-6.175392, 106.827153)


def page_token(user):
    client = Client()
    client.force_login(user)
    return client.get("/ops/token").json()["token"]


def driver_online():
    driver = make_driver()
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])
    return driver


@pytest.fixture
def open_socket(ws):
    """open_socket(token) -> a socket opened the way the page opens it (`?token=`)."""
    return lambda token: ws(token=token, via="query")


async def next_snapshot(socket):
    while True:
        message = orjson.loads(await socket.receive_from(timeout=5))
        if message["type"] == "ops.snapshot":
            return message


async def test_staff_socket_opened_with_the_page_token_receives_the_snapshot(open_socket):
    staff = await db(make_passenger)(msisdn="+628110000003", is_staff=True)
    socket = await open_socket(await db(page_token)(staff))
    driver = await db(driver_online)()

    await db(tasks.ops_broadcast)()

    snapshot = await next_snapshot(socket)
    assert [row[0] for row in snapshot["drivers"]] == [str(driver.id)]
    assert snapshot["counters"]["online_drivers"] == 1


async def test_a_non_staff_socket_never_receives_snapshots(open_socket):
    from accounts.services import tokens_issue

    staff = await db(make_passenger)(msisdn="+628110000004", is_staff=True)
    passenger = await db(make_passenger)()
    staff_socket = await open_socket(await db(page_token)(staff))
    passenger_socket = await open_socket((await db(tokens_issue)(user=passenger))["access"])
    await db(driver_online)()

    await db(tasks.ops_broadcast)()

    await next_snapshot(staff_socket)  # it was sent
    assert await passenger_socket.receive_nothing(timeout=0.3)
