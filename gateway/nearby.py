"""The fast path of `GET /api/v1/drivers/nearby`: answered at the ASGI level, before Django's request machinery.

A passenger app polls nearby every few seconds, so the request must be cheap (bench scenario 2 measures it), and
Django's middleware stack, the sync DRF view's thread hop, a user query and serializers cost many times the search
itself. This path
answers only requests it can fully vouch for, and hands every other one, untouched, to Django (which then answers
exactly as the DRF view `locations.apis.DriversNearbyApi` does: the same selector, the same error shape):

- `Authorization: Bearer <access token>` whose signature, expiry and type hold (simplejwt's AccessToken, as REST);
- its user is active: known active in this process for USER_ACTIVE_CACHE_SECONDS (one query on a miss) and not in
  the Redis set of suspended users, and its sign-in session not ended (Redis' revoked sessions, complete), both
  checked inside the search script (no extra round trip), so a suspension or a logout (accounts.services) is
  refused at once by every process;
- no Origin header (browsers get Django's CORS handling) and valid `lat`, `lng`, optional `radius_m`.
Anything else (no token, bad token, suspended, bad query, Redis error) goes to Django and gets its 4xx/5xx.
"""

import math
import time
import uuid
from urllib.parse import parse_qs

import orjson
from channels.db import database_sync_to_async
from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from locations.metrics import NEARBY_FAST
from locations.selectors import RequesterRefused, drivers_available_near_async
from nebengjek import tracing

PATH = "/api/v1/drivers/nearby"
USER_ACTIVE_CACHE_SECONDS = 5.0
_ACTIVE_CACHE_MAX = 100_000
_active_until: dict[
    str, float
] = {}  # user id -> time.monotonic() until which the user counts as active in this process

_STATIC_HEADERS = [
    (b"content-type", b"application/json"),
    (b"vary", b"Accept"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class NearbyFastPath:
    """ASGI middleware in front of Django's HTTP application (gateway.asgi)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            with tracing.hot_span("GET /api/v1/drivers/nearby (fast path)"):
                body = await nearby_answer(scope)
            if body is not None:
                await _send_json(scope, send, body)
                return None
        return await self.app(scope, receive, send)


async def nearby_answer(scope):
    """The response body (bytes) when this path can answer the request, else None (Django answers)."""
    raw_token, request_id = _headers(scope)
    if raw_token is None:
        return None
    user_id, sid = _user_and_session(raw_token)
    if user_id is None or not await _user_active(user_id):
        NEARBY_FAST_FALLBACK.inc()
        return None
    query = _query(scope.get("query_string", b""))
    if query is None:
        NEARBY_FAST_FALLBACK.inc()
        return None
    lat, lng, radius_m = query
    try:
        drivers = await drivers_available_near_async(
            lat=lat, lng=lng, radius_m=radius_m, requester_id=user_id, requester_sid=sid
        )
    except RequesterRefused:
        _active_until.pop(user_id, None)
        NEARBY_FAST_FALLBACK.inc()
        return None
    except Exception:  # Redis trouble: Django's view answers (and logs) it the usual way
        NEARBY_FAST_FALLBACK.inc()
        return None
    NEARBY_FAST_ANSWERED.inc()
    scope["nebengjek.request_id"] = request_id
    return orjson.dumps(
        {
            "count": len(drivers),
            "drivers": [{"id": d.id, "lat": d.lat, "lng": d.lng, "distance_m": d.distance_m} for d in drivers],
        }
    )


NEARBY_FAST_ANSWERED = NEARBY_FAST.labels(path="fast")
NEARBY_FAST_FALLBACK = NEARBY_FAST.labels(path="django")


def _headers(scope):
    """(access token or None, incoming request id or None); None token also when an Origin header is present."""
    token = request_id = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, rest = value.partition(b" ")
            if scheme != b"Bearer" or not rest or b" " in rest:
                return None, None
            token = rest.decode("latin-1")
        elif name == b"origin":
            return None, None
        elif name == b"x-request-id":
            request_id = value[:64]
    return token, request_id


def _user_and_session(raw_token):
    """(user id, sign-in session id or "") of a valid access token, else (None, "")."""
    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None, ""
    user_id = token.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    return (str(user_id) if user_id else None), str(token.payload.get("sid") or "")


async def _user_active(user_id):
    now = time.monotonic()
    if _active_until.get(user_id, 0.0) > now:
        return True
    if not await database_sync_to_async(_user_is_active)(user_id):
        return False
    if len(_active_until) >= _ACTIVE_CACHE_MAX:
        _active_until.clear()
    _active_until[user_id] = now + USER_ACTIVE_CACHE_SECONDS
    return True


def _user_is_active(user_id):
    from accounts.models import User

    try:
        return User.objects.filter(pk=user_id, is_active=True).exists()
    except Exception:  # e.g. a malformed id: Django's path answers it
        return False


def _query(query_string):
    """(lat, lng, radius_m) when the query is valid as NearbyQuerySerializer + coordinates_parse would accept it
    (the fast path takes only clearly valid values; anything doubtful goes to Django), else None."""
    params = parse_qs(query_string.decode("latin-1"))
    if "product" in params:
        return None  # the product filter reads the catalogue (cached, loaded from the database): Django answers
    lat, lng = _number(params.get("lat")), _number(params.get("lng"))
    if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    radius = params.get("radius_m")
    if radius is None:
        return lat, lng, settings.NEARBY_DEFAULT_RADIUS_M
    value = radius[-1]
    if not (value.isascii() and value.isdigit()):
        return None
    radius_m = int(value)
    if not 1 <= radius_m <= settings.NEARBY_MAX_RADIUS_M:
        return None
    return lat, lng, radius_m


def _number(values):
    if not values:
        return None
    try:
        value = float(values[-1])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


async def _send_json(scope, send, body):
    request_id = scope.get("nebengjek.request_id") or uuid.uuid4().hex.encode()
    headers = [*_STATIC_HEADERS, (b"content-length", str(len(body)).encode()), (b"x-request-id", request_id)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
