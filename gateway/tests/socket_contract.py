"""Checks every frame the server sends to a test socket against the AsyncAPI document (gateway.asyncapi).

The root conftest installs `record_frames` on Channels' WebsocketCommunicator for the whole session and fails the
test that received a frame the document does not describe.
"""

from functools import cache

import jsonschema
import orjson
from channels.testing import WebsocketCommunicator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from gateway.asyncapi import asyncapi_document, server_message_names

DOCUMENT_URI = "urn:nebengjek:asyncapi"
# Events the tests themselves store and push (e.g. "test.note") are not the server's: only their envelope is checked.
TEST_EVENT_PREFIX = "test."
TEST_EVENT_ENVELOPE = {
    "type": "object",
    "required": ["type", "seq"],
    "properties": {"type": {"type": "string"}, "seq": {"type": "integer", "minimum": 1}},
}

violations: list[str] = []


@cache
def _validators() -> dict[str, list[tuple[str, jsonschema.Draft7Validator]]]:
    """type -> [(message name, validator)] for every message the server sends."""
    document = asyncapi_document()
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT7))
    by_type: dict[str, list] = {}
    for name in server_message_names():
        payload = document["components"]["messages"][name]["payload"]
        validator = jsonschema.Draft7Validator(
            {"$ref": f"{DOCUMENT_URI}#/components/messages/{name}/payload"},
            registry=registry,
            format_checker=jsonschema.FormatChecker(),
        )
        by_type.setdefault(payload["properties"]["type"]["const"], []).append((name, validator))
    return by_type


def message_problems(message) -> list[str]:
    """Why `message` is not a server message of the document ([] when it is one)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return [f"not an object with a string type: {message!r}"]
    kind = message["type"]
    if kind.startswith(TEST_EVENT_PREFIX):
        return [error.message for error in jsonschema.Draft7Validator(TEST_EVENT_ENVELOPE).iter_errors(message)]
    candidates = _validators().get(kind)
    if not candidates:
        return [f"type {kind!r} is not a server message of the AsyncAPI document"]
    closest_name, closest_errors = None, []
    for name, validator in candidates:
        errors = list(validator.iter_errors(message))
        if not errors:
            return []
        if closest_name is None or len(errors) < len(closest_errors):
            closest_name, closest_errors = name, errors
    return [
        f"{closest_name}: {'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in closest_errors
    ]


def frame_problems(output: dict) -> list[str]:
    """The problems of one ASGI output of the socket; closes and binary frames are not messages."""
    if output.get("type") != "websocket.send" or output.get("text") is None:
        return []
    try:
        message = orjson.loads(output["text"])
    except orjson.JSONDecodeError:
        return [f"not JSON: {output['text'][:200]!r}"]
    problems = message_problems(message)
    return [f"{problem} in {output['text'][:500]}" for problem in problems]


_receive_output = WebsocketCommunicator.receive_output


async def record_frames(self, timeout=1):
    """WebsocketCommunicator.receive_output that also records the frames the document does not describe."""
    output = await _receive_output(self, timeout)
    violations.extend(frame_problems(output))
    return output


def install() -> None:
    WebsocketCommunicator.receive_output = record_frames


def take_violations() -> list[str]:
    """The violations recorded since the last call (and forget them)."""
    taken = list(violations)
    violations.clear()
    return taken
