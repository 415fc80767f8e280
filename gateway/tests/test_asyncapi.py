"""The socket's AsyncAPI document: served, valid AsyncAPI 3.0, complete, and the suite-wide frame check can fail."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from channels.db import database_sync_to_async
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from accounts.tests.factories import make_passenger
from gateway.asyncapi import CLOSE_CODES, asyncapi_document, server_message_names
from gateway.consumers import CLOSE_SLOW_CONSUMER, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED
from gateway.ops.services import SNAPSHOT_TYPE
from gateway.tests.socket_contract import message_problems, take_violations
from gateway.ws_handlers import HANDLERS
from locations.events import BEACON_UPDATED
from matching import events as matching_events
from nebengjek.realtime import send_event_on_commit
from rides import chat, live_trip
from rides.events import RIDE_UPDATED

ASYNCAPI_3_SCHEMA = Path(__file__).with_name("asyncapi-3.0.0.schema.json")
UUID_1 = "6f1c7a52-5a0e-4a59-9a53-1f1e0d3c2b10"


def document_as_served():
    return json.loads(json.dumps(asyncapi_document()))


def asyncapi_3_errors(document):
    schema = json.loads(ASYNCAPI_3_SCHEMA.read_text())
    return [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(document)]


def message_types(direction_names):
    messages = asyncapi_document()["components"]["messages"]
    return {messages[name]["payload"]["properties"]["type"]["const"] for name in direction_names}


def test_asyncapi_document_is_served_without_a_token(api_client):
    response = api_client.get("/api/asyncapi.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == document_as_served()
    assert response.json()["channels"]["userSocket"]["address"] == "/ws/"


def test_landing_page_links_the_asyncapi_document(client):
    assert 'href="/api/asyncapi.json"' in client.get("/").content.decode()


def test_asyncapi_document_is_valid_against_the_asyncapi_3_schema():
    assert asyncapi_3_errors(document_as_served()) == []


def test_asyncapi_3_schema_check_rejects_a_broken_document():
    document = document_as_served()
    document["operations"]["receiveBeacon"]["action"] = "push"
    del document["info"]["version"]

    assert len(asyncapi_3_errors(document)) >= 2


def test_every_payload_is_a_valid_json_schema_whose_refs_resolve():
    document = asyncapi_document()
    resolver = Registry().with_resource("urn:doc", Resource.from_contents(document, DRAFT7)).resolver("urn:doc")
    for schema in [
        *document["components"]["schemas"].values(),
        *(message["payload"] for message in document["components"]["messages"].values()),
    ]:
        jsonschema.Draft7Validator.check_schema(schema)
    refs = []

    def collect(node):
        if isinstance(node, dict):
            refs.extend(value for key, value in node.items() if key == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs
    for ref in refs:
        resolver.lookup(ref)  # raises on a dangling reference


def test_every_handled_client_message_type_is_documented():
    client_names = [
        name for name in asyncapi_document()["components"]["messages"] if name not in server_message_names()
    ]

    assert message_types(client_names) == set(HANDLERS)


def test_every_pushed_event_type_is_documented_as_a_server_message():
    pushed = {
        matching_events.MATCH_PROPOSAL,
        matching_events.MATCH_ACCEPTED,
        matching_events.MATCH_CONFIRMED,
        matching_events.MATCH_EXPIRED,
        matching_events.MATCH_CANCELLED,
        matching_events.REQUEST_UPDATED,
        RIDE_UPDATED,
        BEACON_UPDATED,
        SNAPSHOT_TYPE,
        "ack",
        "error",
        live_trip.DRIVER_LOCATION,
        live_trip.DRIVER_ARRIVED,
        chat.CHAT_MESSAGE,
        chat.CHAT_RECEIPT,
    }

    assert message_types(server_message_names()) == pushed


def test_close_codes_are_documented():
    socket = asyncapi_document()["channels"]["userSocket"]

    assert {CLOSE_UNAUTHORIZED, CLOSE_TRY_AGAIN_LATER, CLOSE_SLOW_CONSUMER} <= set(CLOSE_CODES)
    assert set(socket["x-close-codes"]) == {str(code) for code in CLOSE_CODES}
    assert f"`{CLOSE_UNAUTHORIZED}`" in socket["description"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "ack", "id": 7},
        {"type": "ack", "id": "a", "accepted": False},
        {"type": "ack", "id": "r", "replayed": 0, "last_seq": 12},
        {
            "type": "error",
            "error": {"code": "malformed_json", "message": "The message is not valid JSON.", "details": {}},
        },
        {"type": "beacon.updated", "seq": 3, "active": True, "added_later": "ignored"},
        {
            "type": "match.cancelled",
            "seq": 9,
            "match": {"id": UUID_1, "request_id": UUID_1, "status": "cancelled", "reason": "taken"},
        },
    ],
)
def test_validator_accepts_documented_messages(message):
    assert message_problems(message) == []


@pytest.mark.parametrize(
    "message",
    [
        {"type": "ride.moved", "seq": 1},  # unknown type
        {"type": "beacon.updated", "active": True},  # a push without seq
        {"type": "beacon.updated", "seq": 0, "active": True},  # seq starts at 1
        {"type": "ack", "id": "l", "accepted": "yes"},  # a typed ack field of the wrong type
        {"type": "ack"},  # an ack without its id
        {"type": "error", "id": 1, "error": {"code": "bad", "message": "m"}},  # no details
        {
            "type": "match.cancelled",
            "seq": 9,
            "match": {"id": UUID_1, "request_id": UUID_1, "status": "gone", "reason": "taken"},
        },  # status not in the enum
        {"type": "ride.updated", "seq": 2, "ride": {"id": UUID_1, "status": "completed"}},  # required fields missing
        ["not", "an", "object"],
    ],
)
def test_validator_rejects_a_message_of_the_wrong_shape(message):
    assert message_problems(message) != []


def test_a_ride_update_with_a_string_amount_is_rejected():
    ride = copy.deepcopy(RIDE)
    ride["fare"]["charged_amount"] = "2502"

    assert message_problems({"type": "ride.updated", "seq": 4, "ride": RIDE}) == []
    assert any(
        "charged_amount" in problem for problem in message_problems({"type": "ride.updated", "seq": 4, "ride": ride})
    )


async def test_a_push_outside_the_document_is_caught_by_the_suite_wide_socket_check(ws):
    passenger = await database_sync_to_async(make_passenger)()
    socket = await ws(passenger)
    take_violations()

    await database_sync_to_async(send_event_on_commit)([passenger.id], RIDE_UPDATED, {"ride": {"id": "nope"}})
    received = await socket.receive_json_from(timeout=5)

    assert received["type"] == RIDE_UPDATED
    caught = take_violations()  # taken here, so this test itself passes
    assert caught and all("RideUpdated" in problem for problem in caught)


RIDE = {
    "id": UUID_1,
    "status": "completed",
    "driver": {"id": UUID_1, "full_name": "Budi", "vehicle_type": "motorcycle", "vehicle_plate": "B 1234 XYZ"},
    "passenger": {"id": UUID_1, "full_name": "Sari"},
    "pickup": {"lat": -6.2, "lng": 106.8},
    "destination": {"lat": -6.21, "lng": 106.8},
    "distance_m": 1111.95,
    "fare": {
        "metered_fare": 3336,
        "surge_multiplier": 1.0,
        "price_pct": 75,
        "charged_amount": 2502,
        "admin_fee": 125,
        "driver_payout": 2377,
        "currency": "IDR",
    },
    "payment_method": "cash",
    "surge_multiplier": 1.0,
    "request_id": UUID_1,
    "cancelled_by": "",
    "cancel_reason": "",
    "created_at": "2026-12-06T06:00:00Z",
    "started_at": "2026-12-06T06:01:00Z",
    "ended_at": "2026-12-06T06:09:00Z",
    "cancelled_at": None,
}
