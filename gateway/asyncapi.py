"""The machine-readable contract of `/ws/`: an AsyncAPI 3.0 document built from Python, served at /api/asyncapi.json.

Each object a message carries (ride, match, request, ...) has one schema in `_object_schemas`; objects allow extra
properties (a new field breaks no client) while the listed fields are required and typed. Status enums come from the
models' choices. The test suite validates every frame the server sends to a test socket against this document.
"""

from functools import cache

SOCKET_CHANNEL = "userSocket"
SCHEMAS = "#/components/schemas/"
CHANNEL_MESSAGES = f"#/channels/{SOCKET_CHANNEL}/messages/"

# The close codes of /ws/ (code -> the reasons sent with it and what a client should do).
CLOSE_CODES = {
    4401: {
        "reasons": ["not_authenticated", "token_not_valid", "user_suspended", "session_ended"],
        "meaning": "The credentials do not hold (missing, bad or expired token at the handshake, the user is "
        "suspended, or the sign-in session was logged out/revoked later). Sign in again; do not "
        "retry with the same token.",
    },
    4403: {
        "reasons": [],
        "meaning": "The handshake is refused (HTTP 403) because a browser's Origin is not an allowed host. "
        "Native apps send no Origin and are never refused.",
    },
    1013: {
        "reasons": ["service_unavailable"],
        "meaning": "Try again later: the database or Redis could not answer during the handshake. Reconnect "
        "with backoff, then send `resume`.",
    },
    4408: {
        "reasons": ["slow_consumer"],
        "meaning": "The client let more pushes pile up unread than the server keeps for it "
        "(WS_SEND_QUEUE_MAX_MESSAGES / WS_SEND_QUEUE_MAX_BYTES). Reconnect and send `resume` with the "
        "last seq seen: nothing is lost.",
    },
}

UUID = {"type": "string", "format": "uuid"}
DATETIME = {"type": "string", "format": "date-time"}
NON_NEGATIVE_INT = {"type": "integer", "minimum": 0}
RUPIAH = {"type": "integer", "description": "Integer rupiah (IDR)."}
CLIENT_ID = {"description": "The client's `id`, echoed as sent: a string or a number.", "type": ["string", "number"]}


def ref(name: str) -> dict:
    return {"$ref": SCHEMAS + name}


def nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict, *, optional: dict | None = None, description: str | None = None) -> dict:
    """An object whose `properties` are all required and typed; `optional` ones are typed when present."""
    schema = {"type": "object", "required": list(properties), "properties": {**properties, **(optional or {})}}
    if description:
        schema["description"] = description
    return schema


def enum_of(choices, *extra: str) -> dict:
    return {"type": "string", "enum": [*choices.values, *extra]}


def _object_schemas() -> dict:
    """The objects the socket carries, each in one place (built like matching.events and RideOutputSerializer)."""
    from django.conf import settings

    from accounts.models import VehicleType
    from matching.models import MatchStatus, PaymentMethod, RequestStatus
    from rides.models import RatingSide, RideStatus

    point = obj(
        {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lng": {"type": "number", "minimum": -180, "maximum": 180},
        }
    )
    trip = {
        "pickup": ref("Point"),
        "destination": ref("Point"),
        "fare_estimate": ref("FareEstimate"),
        "payment_method": ref("PaymentMethod"),
    }
    proposal = {
        "id": UUID,
        "request_id": UUID,
        "status": ref("MatchStatus"),
        "batch_no": NON_NEGATIVE_INT,
        "passenger": ref("MatchPassenger"),
        **trip,
        "distance_to_pickup_m": NON_NEGATIVE_INT,
        "expires_at": DATETIME,
    }
    return {
        "Point": point,
        "PaymentMethod": enum_of(PaymentMethod),
        "MatchStatus": enum_of(MatchStatus),
        "RequestStatus": enum_of(RequestStatus),
        "RideStatus": enum_of(RideStatus),
        "Rating": nullable(
            obj(
                {"average": {"type": "number", "minimum": 1, "maximum": 5}, "count": {"type": "integer", "minimum": 1}},
                description="A user's rating, or null before the first one.",
            )
        ),
        "SurgeMultiplier": {
            "type": "number",
            "minimum": 1,
            "maximum": float(settings.SURGE_MAX_MULTIPLIER),
            "description": "Fixed when the request is made; 1.0 when supply meets demand.",
        },
        "FareEstimate": obj(
            {"distance_m": NON_NEGATIVE_INT, "amount": RUPIAH, "surge_multiplier": ref("SurgeMultiplier")}
        ),
        "MatchPassenger": obj({"id": UUID, "full_name": {"type": "string"}, "rating": ref("Rating")}),
        "MatchDriver": obj(
            {
                "id": UUID,
                "full_name": {"type": "string"},
                "vehicle_type": nullable(enum_of(VehicleType)),
                "vehicle_plate": nullable({"type": "string"}),
                "rating": ref("Rating"),
            }
        ),
        "Proposal": obj(
            proposal, description="A match as the proposed driver sees it (matching.events.proposal_payload)."
        ),
        "Match": obj(
            {**proposal, "driver": ref("MatchDriver"), "confirm_expires_at": nullable(DATETIME)},
            description="A match with both sides (matching.events.match_payload).",
        ),
        "MatchOutcome": obj(
            {
                "id": UUID,
                "request_id": UUID,
                "status": ref("MatchStatus"),
                "reason": {"type": "string", "enum": ["taken", "expired", "confirm_timeout", "passenger_cancelled"]},
            },
            description="A short notice that a proposal or an accepted match is gone: `taken` "
            "(another driver accepted first), `expired` (unanswered), `confirm_timeout` "
            "(the passenger did not confirm), `passenger_cancelled`.",
        ),
        "Request": obj(
            {
                "id": UUID,
                "status": ref("RequestStatus"),
                **trip,
                "surge": obj({"cell": {"type": "string"}, "supply": NON_NEGATIVE_INT, "demand": NON_NEGATIVE_INT}),
                "match": nullable(ref("Match")),
                "ride_id": nullable(UUID),
                "confirm_expires_at": nullable(DATETIME),
                "created_at": DATETIME,
            },
            description="A ride request as its passenger sees it (matching.events.request_payload).",
        ),
        "RideFare": obj(
            {
                "metered_fare": RUPIAH,
                "surge_multiplier": ref("SurgeMultiplier"),
                "price_pct": {"type": "integer", "minimum": 1, "maximum": 100},
                "charged_amount": RUPIAH,
                "admin_fee": RUPIAH,
                "driver_payout": RUPIAH,
                "currency": {"const": "IDR"},
            }
        ),
        "Ride": obj(
            {
                "id": UUID,
                "status": ref("RideStatus"),
                "driver": obj(
                    {
                        "id": UUID,
                        "full_name": {"type": "string"},
                        "vehicle_type": nullable(enum_of(VehicleType)),
                        "vehicle_plate": nullable({"type": "string"}),
                    }
                ),
                "passenger": obj({"id": UUID, "full_name": {"type": "string"}}),
                "pickup": ref("Point"),
                "destination": ref("Point"),
                "distance_m": {"type": "number", "minimum": 0},
                "fare": nullable(ref("RideFare")),
                "payment_method": ref("PaymentMethod"),
                "surge_multiplier": ref("SurgeMultiplier"),
                "request_id": UUID,
                "cancelled_by": {
                    "type": "string",
                    "enum": ["", *RatingSide.values, "operator"],
                    "description": "Who cancelled; empty unless cancelled.",
                },
                "cancel_reason": {"type": "string"},
                "created_at": DATETIME,
                "started_at": nullable(DATETIME),
                "ended_at": nullable(DATETIME),
                "cancelled_at": nullable(DATETIME),
            },
            description="The ride in its REST shape (rides.serializers.RideOutputSerializer).",
        ),
        "DriverPosition": obj(
            {
                "lat": {"type": "number"},
                "lng": {"type": "number"},
                "heading": nullable({"type": "number", "minimum": 0, "maximum": 360}),
                "speed_mps": nullable({"type": "number", "minimum": 0}),
                "recorded_at": DATETIME,
                "distance_to_pickup_m": nullable(NON_NEGATIVE_INT),
                "eta_to_pickup_s": nullable(NON_NEGATIVE_INT),
            },
            description="The driver's latest accepted position on a live ride; distance and ETA "
            "to pickup (straight line over an average city speed) until the start.",
        ),
        "ChatMessage": obj(
            {
                "id": UUID,
                "ride_id": UUID,
                "sender": {"type": "string", "enum": ["passenger", "driver"]},
                "text": {"type": "string", "maxLength": settings.RIDE_CHAT_MAX_CHARS},
                "quick_reply": nullable({"type": "string"}),
                "created_at": DATETIME,
                "delivered_at": nullable(DATETIME),
                "read_at": nullable(DATETIME),
            },
            description="One message of a ride's chat (rides.chat); never a phone number.",
        ),
        "ErrorBody": obj(
            {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "examples": _error_codes()},
                "message": {"type": "string"},
                "details": {"type": "object"},
            }
        ),
        "OpsPoint": {
            "type": "array",
            "minItems": 4,
            "maxItems": 4,
            "items": [UUID, {"type": "number"}, {"type": "number"}, {"type": ["string", "integer"]}],
            "description": "[id, lat, lng, busy 0|1 (drivers) or status (requests, rides)].",
        },
    }


def _error_codes() -> list[str]:
    """The codes a socket error can carry: the socket's own and the domains' catalogues its handlers raise."""
    from gateway.consumers import SocketError
    from locations.errors import LocationsError
    from matching.errors import MatchingError
    from nebengjek.errors import CommonError
    from rides.errors import RidesError

    return sorted(
        {
            member.value
            for catalogue in (SocketError, CommonError, LocationsError, MatchingError, RidesError)
            for member in catalogue
        }
    )


def _type(name: str) -> dict:
    return {"type": "string", "const": name}


def _client(type_name: str, fields: dict | None = None, *, optional: dict | None = None) -> dict:
    return obj({"type": _type(type_name), **(fields or {})}, optional={"id": CLIENT_ID, **(optional or {})})


ACK_FIELDS = {
    "active": {"type": "boolean", "description": "beacon: the beacon as it now is."},
    "accepted": {"type": "boolean", "description": "location: false when the plausibility filter dropped it."},
    "reason": {
        "type": "string",
        "enum": ["inaccurate", "future", "out_of_order", "too_fast", "no_reference"],
        "description": "location, with accepted false: why the position was dropped.",
    },
    "match": ref("Match"),
    "message": ref("ChatMessage"),
    "updated": {**NON_NEGATIVE_INT, "description": "chat.receipt: how many messages it marked."},
    "replayed": {**NON_NEGATIVE_INT, "description": "resume: how many stored events were sent before this ack."},
    "last_seq": {**NON_NEGATIVE_INT, "description": "resume: the seq of the last event replayed (or `after`)."},
}


def _ack(*required: str) -> dict:
    """An ack carrying `required` of the ack fields (each ack's extra fields are typed whichever it is)."""
    return obj(
        {"type": _type("ack"), "id": CLIENT_ID, **{name: ACK_FIELDS[name] for name in required}}, optional=ACK_FIELDS
    )


def _event(type_name: str, fields: dict) -> dict:
    """A stored, pushed event: its type, its per-user `seq`, and its payload."""
    return obj(
        {
            "type": _type(type_name),
            "seq": {
                "type": "integer",
                "minimum": 1,
                "description": "Increasing per user; send it as `resume.after` after a reconnect.",
            },
            **fields,
        }
    )


def _messages() -> dict:
    """name -> (summary, payload). Client messages first, then the server's replies and pushes."""
    return {
        # Client -> server
        "Ping": ("Keep-alive / latency probe: answered by a bare ack.", _client("ping")),
        "Resume": (
            "Replay the stored events after `after` (the last seq seen), in order, then the ack.",
            _client("resume", optional={"after": NON_NEGATIVE_INT}),
        ),
        "Beacon": ("Drivers only: available for trips, or not.", _client("beacon", {"active": {"type": "boolean"}})),
        "Location": (
            "Any user's position; a driver's moves them in the live index and extends a ride's track.",
            _client(
                "location",
                {
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "lng": {"type": "number", "minimum": -180, "maximum": 180},
                },
                optional={"recorded_at": DATETIME, "accuracy_m": {"type": "number", "minimum": 0}},
            ),
        ),
        "MatchAccept": ("The proposed driver accepts.", _client("match.accept", {"match_id": UUID})),
        "MatchReject": ("The proposed driver declines.", _client("match.reject", {"match_id": UUID})),
        "ChatSend": (
            "A chat message to the other side of a ride: `text` (at most RIDE_CHAT_MAX_CHARS) or a "
            "`quick_reply` code; from the confirm until 30 minutes after the end; rate-limited.",
            _client(
                "chat.send",
                {"ride_id": UUID},
                optional={
                    "text": {"type": "string"},
                    "quick_reply": {"type": "string"},
                    "client_id": {
                        "type": "string",
                        "maxLength": 64,
                        "description": "Idempotency key: a resend is not doubled.",
                    },
                },
            ),
        ),
        "ChatReceipt": (
            "The other side's messages of a ride up to `message_id` were delivered to, or read by, this user.",
            _client(
                "chat.receipt",
                {"ride_id": UUID, "message_id": UUID, "status": {"type": "string", "enum": ["delivered", "read"]}},
            ),
        ),
        # Server -> client: replies
        "Ack": ("The message with this `id` took effect.", _ack()),
        "BeaconAck": ("The beacon took effect.", _ack("active")),
        "LocationAck": ("The position was handled; `accepted` says whether it was used.", _ack("accepted")),
        "MatchAnswerAck": ("The answer took effect; the match as it now is.", _ack("match")),
        "ResumeAck": ("The replay is complete.", _ack("replayed", "last_seq")),
        "ChatSendAck": ("The chat message is stored and on its way; the message as stored.", _ack("message")),
        "ChatReceiptAck": ("The receipt is stored.", _ack("updated")),
        "Error": (
            "A message failed (with its `id`), or a frame could not be read (no `id`); the socket stays open.",
            obj({"type": _type("error"), "error": ref("ErrorBody")}, optional={"id": CLIENT_ID}),
        ),
        # Server -> client: pushes (stored with a seq, replayed by `resume`)
        "MatchProposal": (
            "To a driver: a trip is offered until `expires_at`.",
            _event("match.proposal", {"match": ref("Proposal")}),
        ),
        "MatchAccepted": (
            "To both sides: the driver accepted; the passenger confirms before `confirm_expires_at`.",
            _event("match.accepted", {"match": ref("Match")}),
        ),
        "MatchConfirmed": (
            "To both sides: the passenger confirmed; a ride exists.",
            _event("match.confirmed", {"match": ref("Match")}),
        ),
        "MatchExpired": (
            "To the driver (and the passenger on confirm_timeout): the match is gone.",
            _event("match.expired", {"match": ref("MatchOutcome")}),
        ),
        "MatchCancelled": (
            "To the driver: another driver was faster, or the passenger cancelled.",
            _event("match.cancelled", {"match": ref("MatchOutcome")}),
        ),
        "RequestUpdated": (
            "To the passenger: the request ended without their doing (`no_driver`, `expired`).",
            _event("request.updated", {"request": ref("Request")}),
        ),
        "RideUpdated": (
            "To both sides: on every status change of the ride.",
            _event("ride.updated", {"ride": ref("Ride")}),
        ),
        "BeaconUpdated": (
            "To the driver's sockets: the beacon changed (other device, REST).",
            _event("beacon.updated", {"active": {"type": "boolean"}}),
        ),
        "RideDriverLocation": (
            "To the passenger, not stored (no seq): the driver's latest position, from the "
            "confirm until the end, at most once every LIVE_TRIP_PUSH_INTERVAL_SECONDS per ride; "
            "also sent after a `resume`.",
            obj({"type": _type("ride.driver_location"), "ride_id": UUID, "driver_position": ref("DriverPosition")}),
        ),
        "RideDriverArrived": (
            "To both sides: the driver came within LIVE_TRIP_ARRIVAL_RADIUS_M of the pickup (once).",
            _event("ride.driver_arrived", {"ride_id": UUID, "driver_arrived_at": DATETIME}),
        ),
        "ChatMessagePush": (
            "To the other side of the ride: a chat message.",
            _event("chat.message", {"message": ref("ChatMessage")}),
        ),
        "ChatReceiptPush": (
            "To a message's sender: the other side received (`delivered`) or read (`read`) the "
            "sender's messages up to `message_id`.",
            _event(
                "chat.receipt",
                {
                    "ride_id": UUID,
                    "message_id": UUID,
                    "status": {"type": "string", "enum": ["delivered", "read"]},
                    "at": DATETIME,
                },
            ),
        ),
        "OpsSnapshot": (
            "Staff sockets only, not stored (no seq): what the operations page draws.",
            obj(
                {
                    "type": _type("ops.snapshot"),
                    "at": DATETIME,
                    "counters": obj(
                        {
                            name: NON_NEGATIVE_INT
                            for name in (
                                "online_drivers",
                                "available_drivers",
                                "searching_requests",
                                "rides_en_route",
                                "rides_in_progress",
                                "completed_today",
                                "gmv_today",
                                "revenue_today",
                            )
                        }
                    ),
                    "drivers": {"type": "array", "items": ref("OpsPoint")},
                    "requests": {"type": "array", "items": ref("OpsPoint")},
                    "rides": {"type": "array", "items": ref("OpsPoint")},
                }
            ),
        ),
    }


# Operations, from the server's side: it receives the client's messages (each with its replies) and sends pushes.
RECEIVE = {
    "Ping": ["Ack"],
    "Resume": ["ResumeAck"],
    "Beacon": ["BeaconAck"],
    "Location": ["LocationAck"],
    "MatchAccept": ["MatchAnswerAck"],
    "MatchReject": ["MatchAnswerAck"],
    "ChatSend": ["ChatSendAck"],
    "ChatReceipt": ["ChatReceiptAck"],
}
SEND = [
    "MatchProposal",
    "MatchAccepted",
    "MatchConfirmed",
    "MatchExpired",
    "MatchCancelled",
    "RequestUpdated",
    "RideUpdated",
    "BeaconUpdated",
    "RideDriverLocation",
    "RideDriverArrived",
    "ChatMessagePush",
    "ChatReceiptPush",
    "OpsSnapshot",
    "Error",
]


def _operations() -> dict:
    channel = {"$ref": f"#/channels/{SOCKET_CHANNEL}"}
    operations = {}
    for name, replies in RECEIVE.items():
        operations[f"receive{name}"] = {
            "action": "receive",
            "channel": channel,
            "messages": [{"$ref": CHANNEL_MESSAGES + name}],
            "reply": {
                "channel": channel,
                "messages": [{"$ref": CHANNEL_MESSAGES + reply} for reply in [*replies, "Error"]],
            },
        }
    for name in SEND:
        operations[f"send{name}"] = {
            "action": "send",
            "channel": channel,
            "messages": [{"$ref": CHANNEL_MESSAGES + name}],
        }
    return operations


def _close_codes_text() -> str:
    return "\n".join(
        f"- `{code}`"
        + (f" (reason {', '.join(f'`{r}`' for r in info['reasons'])})" if info["reasons"] else "")
        + f": {info['meaning']}"
        for code, info in CLOSE_CODES.items()
    )


CHANNEL_DESCRIPTION = """One WebSocket per signed-in user. Every frame is a JSON text frame, an object with a `type`.
A client message with an `id` is answered by an `ack` or an `error` with the same `id`. Pushed events carry `seq`,
increasing per user, stored for 24 h: after a reconnect send `resume` with the last seq seen. Objects may gain fields;
clients must ignore fields they do not know.

Close codes:
"""


@cache
def asyncapi_document() -> dict:
    from django.conf import settings

    messages = {
        name: {
            "name": payload["properties"]["type"]["const"],
            "title": name,
            "summary": summary,
            "contentType": "application/json",
            "payload": payload,
        }
        for name, (summary, payload) in _messages().items()
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "NebengJek realtime socket",
            "version": "1.0.0",
            "description": "The `/ws/` socket of the NebengJek API: every client message, ack, error and push. "
            "The REST API is described at /api/schema/.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "api": {
                "host": "{host}",
                "protocol": "wss",
                "description": "The API host (ws: in development).",
                "variables": {"host": {"default": "localhost:8000"}},
                "security": [
                    {"$ref": "#/components/securitySchemes/bearer"},
                    {"$ref": "#/components/securitySchemes/queryToken"},
                ],
            }
        },
        "channels": {
            SOCKET_CHANNEL: {
                "address": "/ws/",
                "title": "The user's socket",
                "description": CHANNEL_DESCRIPTION + _close_codes_text(),
                "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
                "bindings": {
                    "ws": {
                        "bindingVersion": "0.1.0",
                        "method": "GET",
                        "query": obj({}, optional={"token": {"type": "string", "description": "An access token."}}),
                        "headers": obj({}, optional={"Authorization": {"type": "string", "pattern": "^Bearer .+"}}),
                    }
                },
                "x-close-codes": {str(code): info for code, info in CLOSE_CODES.items()},
                "x-limits": {
                    "max_message_bytes": settings.WS_MAX_MESSAGE_BYTES,
                    "messages_per_second": settings.WS_RATE_PER_SECOND,
                },
            }
        },
        "operations": _operations(),
        "components": {
            "schemas": _object_schemas(),
            "messages": messages,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <access>` on the handshake.",
                },
                "queryToken": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "`?token=<access>` for clients that cannot set headers.",
                },
            },
        },
    }


def server_message_names() -> list[str]:
    """The messages the server sends: what its send operations and its replies name."""
    names = []
    for operation in asyncapi_document()["operations"].values():
        refs = operation["messages"] if operation["action"] == "send" else operation["reply"]["messages"]
        names += [item["$ref"].rsplit("/", 1)[1] for item in refs]
    return list(dict.fromkeys(names))
