"""Client messages on /ws/: every type, every bad input, ack/error by id, limits."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from gateway.ws_handlers import HANDLERS
from locations.selectors import drivers_available_near, user_last_position
from locations.tests.helpers import MONAS

db = database_sync_to_async


@pytest.fixture
async def driver_socket(ws):
    return await ws(await db(make_driver)())


async def reply(socket):
    return await socket.receive_json_from(timeout=5)


async def test_a_driver_beacon_is_acked_and_puts_the_driver_on_the_map(driver_socket):
    await driver_socket.send_json_to({"type": "beacon", "id": 1, "active": True})
    answers = [await reply(driver_socket), await reply(driver_socket)]
    assert {"type": "ack", "id": 1, "active": True} in answers
    assert {"type": "beacon.updated", "seq": 1, "active": True} in answers  # the push, to all the driver's sockets

    await driver_socket.send_json_to({"type": "location", "id": 2, "lat": MONAS[0], "lng": MONAS[1]})
    assert await reply(driver_socket) == {"type": "ack", "id": 2, "accepted": True}

    nearby = await db(drivers_available_near)(lat=MONAS[0], lng=MONAS[1], radius_m=100)
    assert [driver.id for driver in nearby] == [driver_socket.user_id]


async def test_a_passenger_beacon_is_refused_with_not_a_driver(ws):
    socket = await ws(await db(make_passenger)())

    await socket.send_json_to({"type": "beacon", "id": "b1", "active": True})

    answer = await reply(socket)
    assert answer["type"] == "error" and answer["id"] == "b1"
    assert answer["error"]["code"] == "not_a_driver"


async def test_a_passenger_location_is_kept_as_the_passengers_latest_position(ws):
    passenger = await db(make_passenger)()
    socket = await ws(passenger)

    await socket.send_json_to({"type": "location", "id": 1, "lat": -6.2, "lng": 106.8, "accuracy_m": 8})

    assert await reply(socket) == {"type": "ack", "id": 1, "accepted": True}
    position = await db(user_last_position)(user_id=passenger.id)
    assert (position.lat, position.lng) == (-6.2, 106.8)


async def test_an_implausible_location_is_acked_as_not_accepted_with_the_reason(driver_socket):
    await driver_socket.send_json_to({"type": "location", "id": 1, "lat": -6.2, "lng": 106.8})
    await reply(driver_socket)
    one_second_later = (timezone.now() + timedelta(seconds=1)).isoformat()

    await driver_socket.send_json_to(
        {"type": "location", "id": 2, "lat": -6.3, "lng": 106.8, "recorded_at": one_second_later}
    )

    assert await reply(driver_socket) == {"type": "ack", "id": 2, "accepted": False, "reason": "too_fast"}


async def test_an_older_or_inaccurate_location_is_acked_with_its_reason(driver_socket):
    await driver_socket.send_json_to({"type": "location", "id": 1, "lat": -6.2, "lng": 106.8})
    await reply(driver_socket)
    a_minute_ago = (timezone.now() - timedelta(minutes=1)).isoformat()

    await driver_socket.send_json_to(
        {"type": "location", "id": 2, "lat": -6.2, "lng": 106.8, "recorded_at": a_minute_ago}
    )
    await driver_socket.send_json_to({"type": "location", "id": 3, "lat": -6.2, "lng": 106.8, "accuracy_m": 500})

    assert await reply(driver_socket) == {"type": "ack", "id": 2, "accepted": False, "reason": "out_of_order"}
    assert await reply(driver_socket) == {"type": "ack", "id": 3, "accepted": False, "reason": "inaccurate"}


async def test_a_message_without_id_gets_no_ack(driver_socket):
    await driver_socket.send_json_to({"type": "location", "lat": -6.2, "lng": 106.8})
    await driver_socket.send_json_to({"type": "ping", "id": "after"})

    assert await reply(driver_socket) == {"type": "ack", "id": "after"}


async def test_a_bad_message_without_id_still_gets_an_error(driver_socket):
    await driver_socket.send_json_to({"type": "location", "lat": "north"})

    answer = await reply(driver_socket)
    assert answer["type"] == "error" and "id" not in answer
    assert answer["error"]["code"] == "invalid_input"


async def test_malformed_json_is_an_error_and_the_socket_stays_open(driver_socket):
    await driver_socket.send_to(text_data="{not json")
    assert (await reply(driver_socket))["error"]["code"] == "malformed_json"

    await driver_socket.send_json_to({"type": "ping", "id": 1})
    assert await reply(driver_socket) == {"type": "ack", "id": 1}


async def test_json_that_is_not_an_object_is_invalid_message(driver_socket):
    for frame in ["[1, 2]", "42", '"text"', "null"]:
        await driver_socket.send_to(text_data=frame)

        assert (await reply(driver_socket))["error"]["code"] == "invalid_message", frame


async def test_a_binary_frame_is_invalid_message(driver_socket):
    await driver_socket.send_to(bytes_data=b"\x00\x01")

    assert (await reply(driver_socket))["error"]["code"] == "invalid_message"


KNOWN_TYPES = ", ".join(sorted(HANDLERS))  # beacon, location, match.accept, match.reject, ping, resume, ...


async def test_an_unknown_or_missing_type_is_unknown_type_naming_what_was_sent_and_the_known_types(driver_socket):
    cases = [
        ({"type": "teleport", "id": 7}, f"Unknown message type 'teleport'; send one of: {KNOWN_TYPES}.", "teleport"),
        ({"id": 7}, f"The message has no type; send one of: {KNOWN_TYPES}.", None),
        ({"type": None, "id": 7}, f"The message has no type; send one of: {KNOWN_TYPES}.", None),
        ({"type": 5, "id": 7}, f"The message type must be a string, not a number; send one of: {KNOWN_TYPES}.", 5),
    ]
    for message, text, sent in cases:
        await driver_socket.send_json_to(message)

        answer = await reply(driver_socket)
        assert answer["id"] == 7 and answer["error"]["code"] == "unknown_type", message
        assert answer["error"]["message"] == text
        assert answer["error"]["details"] == {"type": sent, "types": KNOWN_TYPES.split(", ")}


BAD_LOCATION_FIELDS = [
    ({"lng": 106.8}, "lat"),
    ({"lat": -6.2}, "lng"),
    ({"lat": "-6.2", "lng": 106.8}, "lat"),
    ({"lat": True, "lng": 106.8}, "lat"),
    ({"lat": -6.2, "lng": 106.8, "accuracy_m": "good"}, "accuracy_m"),
    ({"lat": -6.2, "lng": 106.8, "accuracy_m": -1}, "accuracy_m"),
    ({"lat": -6.2, "lng": 106.8, "recorded_at": "yesterday"}, "recorded_at"),
    ({"lat": -6.2, "lng": 106.8, "recorded_at": 1700000000}, "recorded_at"),
]


async def test_a_location_with_a_wrong_field_is_invalid_input_naming_it(driver_socket):
    for fields, bad_field in BAD_LOCATION_FIELDS:
        await driver_socket.send_json_to({"type": "location", "id": 3, **fields})

        answer = await reply(driver_socket)
        assert answer["id"] == 3 and answer["error"]["code"] == "invalid_input", fields
        assert bad_field in answer["error"]["details"], fields


async def test_out_of_range_coordinates_are_invalid_input_naming_the_field(driver_socket):
    for lat, lng, field in [(90.01, 106.8, "lat"), (-91, 106.8, "lat"), (-6.2, 180.5, "lng"), (-6.2, -181, "lng")]:
        await driver_socket.send_json_to({"type": "location", "id": 4, "lat": lat, "lng": lng})

        answer = await reply(driver_socket)
        assert answer["id"] == 4 and answer["error"]["code"] == "invalid_input", (lat, lng)
        assert list(answer["error"]["details"]) == [field] and answer["error"]["message"].startswith(f"{field}: ")


async def test_a_beacon_without_a_boolean_is_invalid_input(driver_socket):
    for active in [None, "yes", 1]:
        await driver_socket.send_json_to({"type": "beacon", "id": 5, "active": active})

        answer = await reply(driver_socket)
        assert answer["error"]["code"] == "invalid_input" and "active" in answer["error"]["details"], active


async def test_a_frame_over_4_kb_is_refused_and_the_socket_stays_open(driver_socket):
    await driver_socket.send_to(text_data='{"type": "ping", "pad": "' + "x" * 4100 + '"}')
    assert (await reply(driver_socket))["error"]["code"] == "message_too_large"

    await driver_socket.send_json_to({"type": "ping", "id": 1})
    assert await reply(driver_socket) == {"type": "ack", "id": 1}


async def test_a_socket_sending_more_than_20_messages_a_second_is_rate_limited(driver_socket):
    sent = 120  # unless sending and answering them took over 5 s, at least one is over the limit
    for i in range(sent):
        await driver_socket.send_json_to({"type": "ping", "id": i})

    answers = [await reply(driver_socket) for _ in range(sent)]

    limited = [answer for answer in answers if answer["type"] == "error"]
    assert limited and all(answer["error"]["code"] == "rate_limited" for answer in limited)
    assert sorted(answer["id"] for answer in answers) == list(range(sent))
    assert sum(answer["type"] == "ack" for answer in answers) >= 20


async def test_ids_may_be_strings_or_numbers_and_come_back_unchanged(driver_socket):
    await driver_socket.send_json_to({"type": "ping", "id": "x-1"})
    await driver_socket.send_json_to({"type": "ping", "id": 99})

    assert [await reply(driver_socket), await reply(driver_socket)] == [
        {"type": "ack", "id": "x-1"},
        {"type": "ack", "id": 99},
    ]


MALFORMED_FRAMES = [
    {"text_data": "{not json"},
    {"text_data": "[1, 2]"},
    {"bytes_data": b"\x00\x01"},
    {"text_data": '{"type": "teleport"}'},
]


@pytest.mark.parametrize("frame", MALFORMED_FRAMES, ids=["bad_json", "not_an_object", "binary", "unknown_type"])
async def test_a_burst_of_malformed_frames_is_rate_limited_like_well_formed_messages(driver_socket, frame):
    sent = 1000  # unless sending and answering them took over 50 s, all but ~20 are over the limit

    for _ in range(sent):
        await driver_socket.send_to(**frame)
    answers = [await reply(driver_socket) for _ in range(sent)]

    codes = [answer["error"]["code"] for answer in answers]
    assert codes.count("rate_limited") >= sent - 100, codes[:40]
