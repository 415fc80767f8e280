"""WebSocket handshake guards: the Origin check and JWT authentication for Channels.

JwtAuthMiddleware puts into the scope `user` (None when refused, else a lazy User), `user_id`, `user_is_staff`,
`auth_error` (why: `not_authenticated`,
`token_not_valid`, `user_suspended`, or `service_unavailable` when the database or Redis could not answer) and
`token_sid` (the sign-in session of the token). It never refuses the handshake itself: the consumer accepts and then
closes with 4401 (or 1013 for `service_unavailable`), which a client can tell from a network error.
"""

import logging
from functools import partial
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from django.conf import settings
from django.http.request import validate_host
from django.utils.functional import SimpleLazyObject
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from gateway.ops.services import ops_group_joins
from nebengjek.exceptions import backing_service_down

logger = logging.getLogger(__name__)

SERVICE_UNAVAILABLE = "service_unavailable"


def token_from_scope(scope):
    """The access token: `Authorization: Bearer` header first, then `?token=`."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return tokens[0] if tokens else None


def authenticate(raw_token):
    """(user, None, sid) or (None, error_code, None). One query: the user with the token's sign-in session joined in."""
    from accounts.selectors import sign_in_session_revoked, user_with_session_get

    if not raw_token:
        return None, "not_authenticated", None
    try:
        token = AccessToken(raw_token)
    except TokenError:
        return None, "token_not_valid", None
    sid = token.get("sid")
    user = user_with_session_get(user_id=token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]), sid=sid)
    if user is None:
        return None, "token_not_valid", None
    if not user.is_active:
        return None, "user_suspended", None
    if sid and sign_in_session_revoked(user=user, sid=sid):
        return None, "token_not_valid", None
    return user, None, sid


class JwtAuthMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        try:
            user, error, sid = await database_sync_to_async(authenticate)(token_from_scope(scope))
        except Exception as exc:
            if not backing_service_down(exc):
                raise
            logger.warning("socket handshake refused: a store is unavailable (%s: %s)", type(exc).__name__, exc)
            user, error, sid = None, SERVICE_UNAVAILABLE, None
        # The scope is completed in place rather than copied: the server made it for this connection alone, and a
        # copy (~1 KB) would live as long as the socket (bench scenario 5: memory per idle socket).
        if user is None:
            scope.update({"user": None, "auth_error": error, "token_sid": None})
        else:
            # This coroutine lives as long as the socket: keep ids and flags, not the User.
            scope.update(
                {
                    "user": lazy_user(user.pk),
                    "user_id": str(user.pk),
                    "user_is_staff": ops_group_joins(user),
                    "auth_error": None,
                    "token_sid": sid,
                }
            )
            user = None
        return await self.app(scope, receive, send)


def _user_load(user_id):
    from accounts.models import User

    return User.objects.get(pk=user_id)


def lazy_user(user_id):
    """The User, loaded at first use: use it only in ORM code run by database_sync_to_async."""
    return SimpleLazyObject(partial(_user_load, user_id))


def origin_allowed(scope):
    """Native apps send no Origin and are allowed; a browser's Origin host must be in ALLOWED_HOSTS."""
    origins = [value for name, value in scope.get("headers", ()) if name == b"origin"]
    if not origins:
        return True
    host = urlsplit(origins[0].decode("latin-1")).hostname
    if host and ":" in host:  # IPv6 literal, as ALLOWED_HOSTS spells it
        host = f"[{host}]"
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class OriginCheckMiddleware:
    """Refuses the handshake (HTTP 403) for a browser page from a host that is not ours."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.app(scope, receive, send)
