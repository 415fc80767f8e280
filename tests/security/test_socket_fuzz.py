"""WebSocket fuzzing: malformed, oversized, binary, wrongly typed and out-of-range messages on /ws/ (issue 9, item 8).

Every message gets exactly one answer, an `ack` or an `error` in the contract's shape (never `server_error`), the
answer to an object echoes its `id`, and the socket stays open: a `ping` afterwards is still acked.
"""

import json
import os

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger

TYPES = ["ping", "resume", "beacon", "location", "match.accept", "match.reject", "chat.send", "chat.receipt"]
# Stands for the id of a ride between two other users (made by the `tokens` fixture): the fuzzing users may not read
# or write its chat, whatever they send.
FOREIGN_RIDE = "00000000-f0e1-4000-8000-00000000f0e1"
REPLY_TIMEOUT = 5
NO_ID_ERRORS = {"malformed_json", "message_too_large", "invalid_message"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
edgy_numbers = st.sampled_from([90, -90, 90.0000001, -91, 180, -180, 181, 1e308, -1e308, 0, -0.0, 2**63, 1e-320])
coordinate = st.floats(-200, 200, allow_nan=False) | edgy_numbers | junk
ids = st.integers(-(2**53), 2**53) | st.text(min_size=1, max_size=8)

typed_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES + ["", "nope", "match.confirm", "LOCATION"]) | junk, "id": ids},
    optional={
        "lat": coordinate,
        "lng": coordinate,
        "active": junk,
        "match_id": st.uuids().map(str) | junk,
        "after": st.integers(-5, 2**63) | junk,
        "recorded_at": st.datetimes().map(lambda d: d.isoformat()) | junk,
        "accuracy_m": st.floats(-10, 1e6, allow_nan=False) | junk,
        "ride_id": st.just(FOREIGN_RIDE) | st.uuids().map(str) | junk,
        "text": st.text(max_size=600) | junk,
        "quick_reply": st.sampled_from(["on_my_way", "thanks", "call_me"]) | junk,
        "message_id": st.uuids().map(str) | junk,
        "status": st.sampled_from(["delivered", "read", "seen"]) | junk,
        "client_id": st.text(max_size=70) | junk,
    },
)
recorded_at = st.datetimes().map(lambda d: d.isoformat() + "Z") | st.datetimes().map(lambda d: d.isoformat()) | junk
nearly_valid = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("location"), "id": ids, "lat": st.floats(-90, 90), "lng": st.floats(-180, 180)},
        optional={"accuracy_m": st.floats(-1, 500) | junk, "recorded_at": recorded_at},
    ),
    st.fixed_dictionaries({"type": st.just("beacon"), "id": ids, "active": st.booleans() | junk}),
    st.fixed_dictionaries({"type": st.just("resume"), "id": ids, "after": st.integers(-3, 2**63) | junk}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["match.accept", "match.reject"]), "id": ids, "match_id": st.uuids().map(str) | junk}
    ),
    st.fixed_dictionaries(
        {"type": st.just("chat.send"), "id": ids, "ride_id": st.just(FOREIGN_RIDE)},
        optional={"text": st.text(max_size=600) | junk, "quick_reply": st.sampled_from(["on_my_way", "nope"]) | junk},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("chat.receipt"),
            "id": ids,
            "ride_id": st.just(FOREIGN_RIDE),
            "message_id": st.uuids().map(str),
            "status": st.sampled_from(["delivered", "read"]),
        }
    ),
)
frames = st.one_of(
    nearly_valid.map(lambda m: ("text", json.dumps(m))),
    nearly_valid.map(lambda m: ("text", json.dumps(m))),
    typed_messages.map(lambda m: ("text", json.dumps(m))),
    st.text(max_size=40).map(lambda t: ("text", t)),  # mostly not JSON
    junk.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("text", json.dumps(v))),  # JSON, not an object
    st.binary(min_size=1, max_size=40).map(lambda b: ("bytes", b)),
    st.integers(4097, 20_000).map(lambda n: ("text", json.dumps({"type": "ping", "id": 1, "pad": "x" * n}))),
)


def sent_object(kind, payload):
    if kind != "text":
        return None
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


async def next_reply(socket):
    """The next ack/error (pushed events in between are skipped); a close is a crash."""
    while True:
        output = await socket.receive_output(timeout=REPLY_TIMEOUT)
        assert output["type"] == "websocket.send", f"the socket closed: {output}"
        reply = orjson.loads(output["text"])
        if reply.get("type") in {"ack", "error"}:
            return reply


def assert_well_formed_error(reply):
    error = reply["error"]
    assert set(error) == {"code", "message", "details"}, reply
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and isinstance(error["details"], dict)
    assert error["code"] != "server_error", reply


async def fuzz(token, batch, foreign_ride=FOREIGN_RIDE):
    from nebengjek.asgi import application

    batch = [
        (kind, payload.replace(FOREIGN_RIDE, foreign_ride) if kind == "text" else payload) for kind, payload in batch
    ]
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
    connected, _ = await socket.connect(timeout=REPLY_TIMEOUT)
    assert connected
    try:
        for kind, payload in batch:
            message = sent_object(kind, payload)
            await socket.send_input({"type": "websocket.receive", kind: payload})  # also empty frames
            if message is not None and message.get("id") is None:
                continue  # no id, no ack (a bad one still gets an error, checked elsewhere)
            reply = await next_reply(socket)
            if reply["type"] == "error":
                assert_well_formed_error(reply)
            if message is not None and (reply["type"] == "ack" or reply["error"]["code"] not in NO_ID_ERRORS):
                assert reply.get("id") == message["id"], (message, reply)
            if message is None:
                assert reply["type"] == "error", (payload, reply)
        await socket.send_to(text_data=json.dumps({"type": "ping", "id": "still-there"}))
        assert await next_reply(socket) == {"type": "ack", "id": "still-there"}
    finally:
        await socket.disconnect()
        await database_sync_to_async(connections.close_all)()


@pytest.fixture
def tokens(settings):
    settings.WS_RATE_PER_SECOND = 10_000  # the fuzzer tests the handlers, not the rate limit
    driver, passenger = make_driver(), make_passenger()
    return [tokens_issue(user=driver)["access"], tokens_issue(user=passenger)["access"]]


@pytest.fixture
def foreign_ride():
    """A ride of two other users, with one message in its chat."""
    from rides.chat import chat_message_send
    from rides.tests.factories import make_confirmed_ride

    ride = make_confirmed_ride()
    chat_message_send(ride_id=ride.pk, user_id=ride.passenger_id, text="only for my driver")
    return str(ride.pk)


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=12), as_driver=st.booleans())
def test_every_bad_message_is_answered_with_an_error_and_the_socket_survives(tokens, foreign_ride, batch, as_driver):
    from rides.models import ChatMessage

    async_to_sync(fuzz)(tokens[0] if as_driver else tokens[1], batch, foreign_ride)

    assert list(ChatMessage.objects.values_list("text", "delivered_at", "read_at")) == [
        ("only for my driver", None, None)
    ]


def test_a_burst_of_garbage_without_ids_gets_one_error_each_and_the_socket_survives(tokens):
    garbage = [
        "{",
        "[]",
        "42",
        '"x"',
        "null",
        json.dumps({"type": "nope"}),
        json.dumps({"lat": 1}),
        json.dumps({"type": "location", "lat": "north"}),
        "x" * 5000,
    ]

    async def run():
        from nebengjek.asgi import application

        socket = WebsocketCommunicator(
            application, "/ws/", headers=[(b"authorization", f"Bearer {tokens[0]}".encode())]
        )
        await socket.connect(timeout=REPLY_TIMEOUT)
        try:
            for text in garbage:
                await socket.send_to(text_data=text)
            replies = [await next_reply(socket) for _ in garbage]
            await socket.send_to(text_data=json.dumps({"type": "ping", "id": 1}))
            alive = await next_reply(socket)
            assert await socket.receive_nothing(timeout=0.2)
        finally:
            await socket.disconnect()
            await database_sync_to_async(connections.close_all)()
        return replies, alive

    replies, alive = async_to_sync(run)()

    assert [reply["type"] for reply in replies] == ["error"] * len(garbage)
    for reply in replies:
        assert_well_formed_error(reply)
    assert alive == {"type": "ack", "id": 1}


# Strict types (issue 20, item 18): a number is a JSON number, a flag is true/false, an id is a string or a number.
NOT_A_NUMBER = [True, "1", "NaN"]
STRICT_MESSAGES = (
    [
        ({"type": "location", "lat": -6.2, "lng": 106.8, field: bad}, field)
        for field in ("lat", "lng", "accuracy_m")
        for bad in NOT_A_NUMBER
    ]
    + [({"type": "resume", "after": bad}, "after") for bad in [True, "1", 1.5]]
    + [({"type": "beacon", "active": bad}, "active") for bad in [1, 0, "true"]]
    + [
        ({"type": "match.accept", "match_id": bad}, "match_id")
        for bad in [12345678901234567890123456789012, True, ["x"]]
    ]
)


def test_wrongly_typed_fields_are_invalid_input_naming_the_field(tokens):
    async def run():
        from nebengjek.asgi import application

        socket = WebsocketCommunicator(
            application, "/ws/", headers=[(b"authorization", f"Bearer {tokens[0]}".encode())]
        )
        await socket.connect(timeout=REPLY_TIMEOUT)
        answers = []
        try:
            for number, (message, _) in enumerate(STRICT_MESSAGES):
                await socket.send_to(text_data=json.dumps({**message, "id": number}))
                answers.append(await next_reply(socket))
            for bad_id in [True, {"a": 1}, [1]]:
                await socket.send_to(text_data=json.dumps({"type": "ping", "id": bad_id}))
                answers.append(await next_reply(socket))
        finally:
            await socket.disconnect()
            await database_sync_to_async(connections.close_all)()
        return answers

    answers = async_to_sync(run)()

    expected = [field for _, field in STRICT_MESSAGES] + ["id"] * 3
    for answer, field in zip(answers, expected, strict=True):
        assert answer["type"] == "error" and answer["error"]["code"] == "invalid_input", (field, answer)
        assert field in answer["error"]["details"], (field, answer)
