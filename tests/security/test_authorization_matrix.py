"""Authorization matrix over every operation of the OpenAPI schema (issue 9, item 2).

For each (method, path) the schema lists, EXERCISE says how to exercise it: public (no token needed), self (acts on
the caller's own data, no id in the path) or owned (an object in the path, made by a setup for its owner). Every
operation is called as anonymous, another passenger, another driver and the owner:
  - anonymous gets 401 on everything but the public operations;
  - a non-owner of an owned object gets 401/403/404, and the database is left exactly as it was;
  - no response to anyone carries another user's data (their id, number, name, events or wallet money);
  - the owner gets through (not 401/403/404, never 5xx).
An operation the schema lists but EXERCISE does not know fails its test: a new endpoint cannot escape the matrix.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger
from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from nebengjek.realtime import send_event_on_commit
from rides.models import Ride, RideStatus

NOT_YOURS = {401, 403, 404}
OWNER_TOPUP = 1_777_333  # a wallet figure nobody else has: seeing it in another user's response is a leak


def schema_operations():
    """(METHOD, path template) for every operation the served schema lists."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    )


# --- the world: two parties who own things, two strangers --------------------------------------------------------


@dataclass
class World:
    passenger: object  # owner (passenger side)
    driver: object  # owner (driver side)
    other_passenger: object
    other_driver: object
    markers: dict = field(default_factory=dict)  # user id -> strings only that user may ever see


def _marked_user(make, label):
    name = f"Marker {label} {uuid.uuid4().hex[:10]}"
    return make(user__full_name=name) if make is make_driver else make(full_name=name)


@pytest.fixture
def world():
    w = World(
        passenger=_marked_user(make_passenger, "P"),
        driver=_marked_user(make_driver, "D"),
        other_passenger=_marked_user(make_passenger, "OP"),
        other_driver=_marked_user(make_driver, "OD"),
    )
    for user in (w.passenger, w.driver, w.other_passenger, w.other_driver):
        secret = f"secret-{uuid.uuid4().hex}"
        send_event_on_commit([user.id], "test.marker", {"secret": secret})
        w.markers[user.id] = {str(user.id), user.msisdn, user.full_name, secret}
    _topup(w.passenger, OWNER_TOPUP)
    w.markers[w.passenger.id].add(str(OWNER_TOPUP))
    return w


def _topup(user, amount):
    from billing.services import topup_create

    topup_create(user_id=user.pk, amount=amount, idempotency_key=f"matrix-{uuid.uuid4().hex}")


# --- owner setups: each returns the path parameters of an object the world's pair owns -------------------------

PICKUP, DESTINATION = (-6.2000, 106.8000), (-6.2100, 106.8000)


def _request(w, status=RequestStatus.SEARCHING, **extra):
    return RideRequest.objects.create(
        passenger=w.passenger,
        status=status,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=DESTINATION[0],
        destination_lng=DESTINATION[1],
        estimate_distance_m=1112,
        estimate_amount=3336,
        surge_multiplier=Decimal("1.0"),
        batch_no=1,
        radius_m=1000,
        **extra,
    )


def _match(w, request, status=MatchStatus.PENDING):
    return Match.objects.create(
        request=request,
        driver=w.driver,
        status=status,
        batch_no=1,
        distance_to_pickup_m=100,
        expires_at=timezone.now() + timedelta(seconds=15),
    )


def searching_request(w):
    return {"request_id": _request(w).id}


def pending_match(w):
    return {"match_id": _match(w, _request(w)).id}


def accepted_match_request(w):
    request = _request(w, status=RequestStatus.DRIVER_FOUND, confirm_deadline=timezone.now() + timedelta(seconds=60))
    _match(w, request, status=MatchStatus.ACCEPTED)
    return {"request_id": request.id}


def _ride(w, status, **money):
    request = _request(
        w, status=RequestStatus.CONFIRMED, is_open=status in (RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS)
    )
    match = _match(w, request, status=MatchStatus.CONFIRMED)
    if status not in (RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS):
        Match.objects.filter(pk=match.pk).update(holds_driver=False)
    return Ride.objects.create(
        request=request,
        match=match,
        driver=w.driver,
        passenger=w.passenger,
        status=status,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=DESTINATION[0],
        destination_lng=DESTINATION[1],
        payment_method=request.payment_method,
        surge_multiplier=request.surge_multiplier,
        **money,
    )


def live_ride(w):
    return {"ride_id": _ride(w, RideStatus.DRIVER_EN_ROUTE).id}


def ride_in_progress(w):
    return {"ride_id": _ride(w, RideStatus.IN_PROGRESS, started_at=timezone.now()).id}


def completed_ride(w):
    ride = _ride(
        w,
        RideStatus.COMPLETED,
        started_at=timezone.now() - timedelta(minutes=10),
        ended_at=timezone.now(),
        distance_m=1111.95,
        price_pct=100,
        metered_fare=3336,
        charged_amount=3336,
        admin_fee=166,
        driver_payout=3170,
    )
    from billing.services import ride_settle

    ride_settle(ride_id=ride.id)
    return {"ride_id": ride.id}


CHAT_MESSAGE_ID = uuid.UUID("5e2f3c4d-0000-4000-8000-00000000c4a7")


def ride_with_a_drivers_message(w):
    from rides.models import ChatMessage

    ride = _ride(w, RideStatus.DRIVER_EN_ROUTE)
    ChatMessage.objects.create(
        id=CHAT_MESSAGE_ID,
        ride=ride,
        sender=w.driver,
        sender_side="driver",
        text="I'm on my way.",
        created_at=timezone.now(),
    )
    return {"ride_id": ride.id}


def shared_ride(w):
    from rides.share import ride_share_create

    ride = _ride(w, RideStatus.DRIVER_EN_ROUTE)
    return {"ride_id": ride.id, "share_id": ride_share_create(ride=ride, user=w.passenger).share.pk}


# --- the table ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Public:
    """No token needed (sign-in). Anonymous is let through: never 401, never 5xx."""

    body: dict | None = None


@dataclass(frozen=True)
class Self:
    """Acts on the caller's own data; every signed-in user is let through, anonymous gets 401."""

    body: dict | None = None
    headers: Callable | None = None


@dataclass(frozen=True)
class Owned:
    """An object in the path; `setup(world)` returns its path parameters; `owner` ("passenger"/"driver") acts on it.

    `counterpart_refused`: the other party of the same ride may not do this (e.g. a passenger accepting the match).
    """

    setup: Callable
    owner: str
    body: dict | None = None
    counterpart_refused: bool = False


def _idempotency():
    return {"HTTP_IDEMPOTENCY_KEY": f"matrix-{uuid.uuid4().hex}"}


EXERCISE = {
    ("POST", "/api/v1/auth/otp/request"): Public({"msisdn": "081299990001"}),
    ("POST", "/api/v1/auth/otp/verify"): Public({"msisdn": "081299990001", "code": "000000"}),
    ("POST", "/api/v1/auth/token/refresh"): Public({"refresh": "not-a-token"}),
    ("POST", "/api/v1/auth/logout"): Public({"refresh": "not-a-token"}),
    ("GET", "/api/v1/me"): Self(),
    ("PATCH", "/api/v1/me"): Self({"full_name": "Renamed"}),
    ("POST", "/api/v1/me/driver"): Self({"vehicle_type": "car", "vehicle_plate": "B 9999 MTX"}),
    ("POST", "/api/v1/drivers/me/beacon"): Self({"active": True}),
    ("GET", "/api/v1/drivers/nearby"): Self(),
    ("POST", "/api/v1/locations"): Self({"lat": -6.2, "lng": 106.8}),
    ("GET", "/api/v1/events"): Self(),
    ("GET", "/api/v1/rides"): Self(),
    ("POST", "/api/v1/rides/requests"): Self(
        {"pickup": {"lat": -6.2, "lng": 106.8}, "destination": {"lat": -6.21, "lng": 106.8}}
    ),
    ("GET", "/api/v1/wallet"): Self(),
    ("GET", "/api/v1/wallet/transactions"): Self(),
    ("POST", "/api/v1/wallet/topups"): Self({"amount": 50_000}, headers=_idempotency),
    ("GET", "/api/v1/rides/requests/{request_id}"): Owned(searching_request, "passenger", counterpart_refused=True),
    ("POST", "/api/v1/rides/requests/{request_id}/cancel"): Owned(
        searching_request, "passenger", {}, counterpart_refused=True
    ),
    ("POST", "/api/v1/rides/requests/{request_id}/confirm"): Owned(
        accepted_match_request, "passenger", counterpart_refused=True
    ),
    ("GET", "/api/v1/matches/{match_id}"): Owned(pending_match, "driver", counterpart_refused=True),
    ("POST", "/api/v1/matches/{match_id}/accept"): Owned(pending_match, "driver", counterpart_refused=True),
    ("POST", "/api/v1/matches/{match_id}/reject"): Owned(pending_match, "driver", counterpart_refused=True),
    ("GET", "/api/v1/rides/{ride_id}"): Owned(live_ride, "passenger"),
    ("POST", "/api/v1/rides/{ride_id}/start"): Owned(live_ride, "driver", counterpart_refused=True),
    ("POST", "/api/v1/rides/{ride_id}/end"): Owned(
        ride_in_progress, "driver", {"price_pct": 80}, counterpart_refused=True
    ),
    ("POST", "/api/v1/rides/{ride_id}/cancel"): Owned(live_ride, "passenger", {}),
    ("POST", "/api/v1/rides/{ride_id}/no-show"): Owned(live_ride, "driver", counterpart_refused=True),
    ("POST", "/api/v1/rides/{ride_id}/report-driver-gone"): Owned(
        ride_in_progress, "passenger", {}, counterpart_refused=True
    ),
    ("GET", "/api/v1/rides/{ride_id}/receipt"): Owned(completed_ride, "passenger"),
    ("POST", "/api/v1/rides/{ride_id}/rating"): Owned(completed_ride, "driver", {"stars": 5}),
    ("GET", "/api/v1/rides/{ride_id}/messages"): Owned(ride_with_a_drivers_message, "passenger"),
    ("POST", "/api/v1/rides/{ride_id}/messages"): Owned(live_ride, "passenger", {"text": "At the gate"}),
    ("POST", "/api/v1/rides/{ride_id}/messages/receipt"): Owned(
        ride_with_a_drivers_message, "passenger", {"message_id": str(CHAT_MESSAGE_ID), "status": "read"}
    ),
    ("POST", "/api/v1/rides/{ride_id}/share"): Owned(live_ride, "passenger", {}, counterpart_refused=True),
    ("DELETE", "/api/v1/rides/{ride_id}/share/{share_id}"): Owned(shared_ride, "passenger", counterpart_refused=True),
}


# --- calling ------------------------------------------------------------------------------------------------------


def client(user=None):
    api = APIClient()
    if user is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access']}")
    return api


def call(user, method, path, case):
    extra = case.headers() if getattr(case, "headers", None) else {}
    body = case.body
    api = client(user)
    if method == "GET":
        return api.get(path, **extra)
    if method == "DELETE":
        return api.delete(path, **extra)
    return getattr(api, method.lower())(path, body if body is not None else {}, format="json", **extra)


def leaked(world, caller, response, allowed=frozenset()):
    """Markers of users other than the caller found in the response (but those in `allowed`)."""
    text = response.content.decode(errors="replace")
    return sorted(
        marker
        for user_id, markers in world.markers.items()
        if caller is None or user_id != caller.id
        for marker in markers
        if marker in text and marker not in allowed
    )


def error_code(response):
    body = response.json() if response.content else {}
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def assert_error_shape(response):
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body


def snapshot():
    """Every row a request, match, ride or the ledger holds: a refused call must leave all of it unchanged."""
    from billing.models import LedgerEntry, LedgerTransaction
    from rides.models import ChatMessage, RideShare

    tables = [RideRequest, Match, Ride, LedgerTransaction, LedgerEntry, ChatMessage, RideShare]
    return {
        model.__name__: sorted(json.dumps(row, sort_keys=True, default=str) for row in model.objects.values())
        for model in tables
    }


OPERATIONS = schema_operations()


def test_the_matrix_names_only_operations_the_schema_serves(api_client):
    served = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(served.content)["paths"]
    operations = {
        (method.upper(), path)
        for path, ops in paths.items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == set(OPERATIONS)
    assert set(EXERCISE) - operations <= {("POST", "/api/v1/rides/{ride_id}/rating")}  # not served yet is allowed


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_is_refused_to_non_owners_and_leaks_nothing(world, operation):
    method, template = operation
    case = EXERCISE.get(operation)
    assert case is not None, f"{method} {template} is not in the authorization matrix: add how to exercise it"

    if isinstance(case, Public):
        response = call(None, method, template, case)
        assert response.status_code < 500, response.content
        assert error_code(response) != "not_authenticated", response.content  # 401 only for the bad token sent
        assert leaked(world, None, response) == []
        return

    if isinstance(case, Self):
        response = call(None, method, template, case)
        assert response.status_code == 401, response.content
        assert_error_shape(response)
        for caller in (world.other_passenger, world.other_driver, world.passenger, world.driver):
            response = call(caller, method, template, case)
            assert response.status_code < 500, (caller, response.content)
            assert response.status_code not in {401, 404}, (caller, response.content)
            assert leaked(world, caller, response) == [], (caller, response.content)
        return

    path = template.format(**{name: str(value) for name, value in case.setup(world).items()})
    owner = world.passenger if case.owner == "passenger" else world.driver
    counterpart = world.driver if case.owner == "passenger" else world.passenger
    strangers = [None, world.other_passenger, world.other_driver] + ([counterpart] if case.counterpart_refused else [])
    before = snapshot()
    for caller in strangers:
        response = call(caller, method, path, case)
        expected = {401} if caller is None else NOT_YOURS
        assert response.status_code in expected, (caller, response.status_code, response.content)
        assert_error_shape(response)
        assert leaked(world, caller, response) == [], (caller, response.content)
    assert snapshot() == before, "a refused call changed the database"

    response = call(owner, method, path, case)
    assert response.status_code not in NOT_YOURS and response.status_code < 500, response.content
    # the owner sees the other party of the same ride by id and name, never its number, events or money
    assert leaked(world, owner, response, allowed={str(counterpart.id), counterpart.full_name}) == [], response.content
