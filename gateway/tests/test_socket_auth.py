"""Who may hold a socket: the handshake is accepted, then a refused client is closed with 4401 (or 1013 when a
store cannot answer)."""

import logging
from datetime import timedelta

import pytest
import redis
import time_machine
from channels.db import database_sync_to_async
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from accounts.services import auth_logout, tokens_issue, user_suspend
from accounts.tests.factories import make_driver, make_passenger

db = database_sync_to_async


async def closed_code(socket):
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return output.get("code")


async def test_a_socket_without_a_token_is_closed_with_4401(ws):
    socket = await ws()

    assert await closed_code(socket) == 4401


async def test_a_socket_with_a_garbage_token_is_closed_with_4401(ws):
    socket = await ws(token="not-a-jwt")

    assert await closed_code(socket) == 4401


async def test_a_socket_with_an_expired_token_is_closed_with_4401(ws):
    tokens = await db(tokens_issue)(user=await db(make_passenger)())

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        socket = await ws(token=tokens["access"])

        assert await closed_code(socket) == 4401


async def test_a_refresh_token_does_not_open_a_socket(ws):
    tokens = await db(tokens_issue)(user=await db(make_passenger)())

    socket = await ws(token=tokens["refresh"])

    assert await closed_code(socket) == 4401


def sign_in_refresh_and_log_out(user):
    """A session that refreshed once (as apps do every few minutes), then logged out; returns its first tokens."""
    from rest_framework.test import APIClient

    tokens = tokens_issue(user=user)
    rotated = APIClient().post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json").json()
    auth_logout(refresh=rotated["refresh"])
    return tokens


async def test_an_access_token_of_a_logged_out_session_is_refused(ws):
    tokens = await db(sign_in_refresh_and_log_out)(await db(make_passenger)())

    socket = await ws(token=tokens["access"])

    assert await closed_code(socket) == 4401


def sign_in_and_log_out(user):
    tokens = tokens_issue(user=user)
    auth_logout(refresh=tokens["refresh"])
    return tokens


async def test_an_access_token_of_a_session_logged_out_before_any_refresh_is_refused(ws):
    tokens = await db(sign_in_and_log_out)(await db(make_passenger)())

    socket = await ws(token=tokens["access"])

    assert await closed_code(socket) == 4401


async def test_a_suspended_user_is_refused(ws):
    user = await db(make_driver)()
    tokens = await db(tokens_issue)(user=user)
    await db(user_suspend)(user=user)

    socket = await ws(token=tokens["access"])

    assert await closed_code(socket) == 4401


async def test_the_token_may_come_in_the_query_string(ws):
    socket = await ws(await db(make_passenger)(), via="query")

    await socket.send_json_to({"type": "ping", "id": 1})

    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}


async def test_the_header_token_wins_over_the_query_token(ws):
    from channels.testing import WebsocketCommunicator

    from nebengjek.asgi import application

    tokens = await db(tokens_issue)(user=await db(make_passenger)())
    socket = WebsocketCommunicator(
        application, "/ws/?token=garbage", headers=[(b"authorization", f"Bearer {tokens['access']}".encode())]
    )
    assert (await socket.connect(timeout=5))[0]

    await socket.send_json_to({"type": "ping", "id": 1})

    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}
    await socket.disconnect()


async def test_a_browser_page_from_a_foreign_origin_is_refused_at_the_handshake():
    from channels.testing import WebsocketCommunicator

    from nebengjek.asgi import application

    tokens = await db(tokens_issue)(user=await db(make_passenger)())
    socket = WebsocketCommunicator(
        application, f"/ws/?token={tokens['access']}", headers=[(b"origin", b"https://evil.example")]
    )

    assert await socket.connect(timeout=5) == (False, 4403)


async def test_a_browser_page_from_an_allowed_host_is_accepted(ws):
    socket = await ws(await db(make_passenger)(), headers=[(b"origin", b"http://localhost:3000")])

    await socket.send_json_to({"type": "ping", "id": 1})

    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}


async def test_logout_closes_that_sessions_socket_only(ws):
    user = await db(make_passenger)()
    phone, tablet = await ws(user), await ws(user)

    await db(auth_logout)(refresh=phone.tokens["refresh"])

    assert await closed_code(phone) == 4401
    await tablet.send_json_to({"type": "ping", "id": 2})
    assert await tablet.receive_json_from(timeout=5) == {"type": "ack", "id": 2}


async def test_suspension_closes_every_socket_of_the_user(ws):
    user = await db(make_driver)()
    phone, tablet = await ws(user), await ws(user)

    await db(user_suspend)(user=user)

    assert await closed_code(phone) == 4401
    assert await closed_code(tablet) == 4401


async def test_a_socket_outlives_its_access_token(ws):
    socket = await ws(await db(make_passenger)())

    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        await socket.send_json_to({"type": "ping", "id": 1})

        assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}


def _refuse_database(**kwargs):
    raise OperationalError("terminating connection due to administrator command")


def _refuse_database_closed(**kwargs):
    raise InterfaceError("connection already closed")


@pytest.mark.parametrize("failure", [_refuse_database, _refuse_database_closed], ids=["operational", "interface"])
async def test_a_database_failure_at_the_handshake_closes_with_1013_and_logs_a_warning(
    ws, caplog, monkeypatch, failure
):
    tokens = await db(tokens_issue)(user=await db(make_passenger)())
    monkeypatch.setattr("accounts.selectors.user_with_session_get", failure)  # the session read loses its database

    with caplog.at_level(logging.INFO):
        socket = await ws(token=tokens["access"])
        output = await socket.receive_output(timeout=5)

    assert output == {"type": "websocket.close", "code": 1013, "reason": "service_unavailable"}
    assert [r.levelname for r in caplog.records if r.name.startswith(("nebengjek", "gateway"))] == ["WARNING"], (
        caplog.text
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("step", ["new_channel", "group_add"])
async def test_a_redis_failure_at_the_handshake_closes_with_1013_and_logs_a_warning(ws, caplog, monkeypatch, step):
    from channels_redis.pubsub import RedisPubSubLoopLayer

    passenger = await db(make_passenger)()

    async def refuse(self, *args, **kwargs):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(RedisPubSubLoopLayer, step, refuse)  # subscribing the socket's channel, joining its group

    with caplog.at_level(logging.INFO):
        socket = await ws(passenger)
        output = await socket.receive_output(timeout=5)

    assert output == {"type": "websocket.close", "code": 1013, "reason": "service_unavailable"}
    assert "WARNING" in [r.levelname for r in caplog.records if r.name.startswith(("nebengjek", "gateway"))], (
        caplog.text
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
