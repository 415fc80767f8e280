"""The one WebSocket of a signed-in user (`/ws/`): framing, limits, ack/error by id, pushes and session closes.

What each client message type does lives in nebengjek.ws_handlers.HANDLERS; this class only carries messages.
Close codes: 4401 = credentials do not hold (missing/bad/expired token, logged out, suspended): sign in again.
1013 = try again later: the database or Redis could not answer during the handshake; reconnect with backoff.
"""
import asyncio
import functools
import logging
import time
from enum import Enum

import orjson
import redis
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from locations.metrics import WS_CONNECTIONS, WS_MESSAGES_THROTTLED
from nebengjek.errors import CommonError, DomainError
from nebengjek.exceptions import backing_service_down
from nebengjek.realtime import OPS_GROUP, user_group
from nebengjek.ws_auth import SERVICE_UNAVAILABLE

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: "Try Again Later"


class SocketError(str, Enum):
    """Error codes only the socket produces (the others come from the handlers' DomainErrors)."""

    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    RATE_LIMITED = "rate_limited"


# Message types handled on the event loop without Channels' per-message database-connection hop (pitfall 1 of
# ../shared/PERFORMANCE.md), besides websocket.receive (dispatch's first branch); handlers that need the ORM use
# database_sync_to_async, which cleans up itself.
_DIRECT_TYPES = frozenset({"realtime.event", "session.revoke", "ops.snapshot"})

_ID_TYPES = frozenset({str, int, float})  # a message `id` is a JSON string or number (not true, not an object)


class _Limits:
    __slots__ = ("max_message_bytes", "rate_per_second")

    def __init__(self):
        self.max_message_bytes = settings.WS_MAX_MESSAGE_BYTES
        self.rate_per_second = settings.WS_RATE_PER_SECOND


_cached = {}


def _limits():
    """The socket settings, read once (re-read after a test changes settings)."""
    limits = _cached.get("limits")
    if limits is None:
        limits = _cached["limits"] = _Limits()
    return limits


def _handlers():
    handlers = _cached.get("handlers")
    if handlers is None:
        from nebengjek.ws_handlers import HANDLERS

        handlers = _cached["handlers"] = HANDLERS
    return handlers


@receiver(setting_changed)
def _limits_reset(**kwargs):
    _cached.pop("limits", None)


class TokenBucket:
    """`rate` messages a second with bursts of `rate`."""

    __slots__ = ("rate", "tokens", "stamp")

    def __init__(self, rate):
        self.rate = rate
        self.tokens = float(rate)
        self.stamp = time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _pump(source, dispatch, lock):
    while True:
        message = await source()
        async with lock:
            await dispatch(message)


async def dispatch_from(receive, channel_receive, dispatch):
    """Channels' await_many_dispatch without its per-message cost: instead of a new Task and an asyncio.wait() for
    every message (~40 % of a location update's server CPU, bench scenario 1), the socket's messages are pumped in
    this task and the channel layer's in one long-lived task; a lock keeps dispatches serial, as there. Returns or
    raises (StopConsumer included) as soon as either pump does, after cancelling the other."""
    lock = asyncio.Lock()
    if channel_receive is None:
        await _pump(receive, dispatch, lock)
        return
    main = asyncio.current_task()
    pumping = True

    def side_done(task):
        if pumping and not task.cancelled():
            main.cancel()  # wake this task: the side pump's exception is raised below

    side = asyncio.ensure_future(_pump(channel_receive, dispatch, lock))
    side.add_done_callback(side_done)
    try:
        await _pump(receive, dispatch, lock)
    except asyncio.CancelledError:
        if side.done() and not side.cancelled():
            main.uncancel()
            side.result()  # the channel pump's exception, in place of the cancellation it caused
        raise
    finally:
        pumping = False
        side.cancel()
        try:
            await side
        except (asyncio.CancelledError, StopConsumer):
            pass


def _message_id(text_data: str | None):
    """The `id` of a refused frame, echoed when the frame is a JSON object of allowed size (else None)."""
    if text_data is None or len(text_data) > _limits().max_message_bytes:
        return None
    try:
        message = orjson.loads(text_data)
    except orjson.JSONDecodeError:
        return None
    message_id = message.get("id") if isinstance(message, dict) else None
    return message_id if type(message_id) in _ID_TYPES else None


class UserSocketConsumer(AsyncWebsocketConsumer):
    """Per socket it keeps only the user id, the session id (in the scope), a few flags, and a token bucket made
    at the first message: ~32 KB per idle socket matter at 10k+ drivers (bench scenario 5). `scope["user"]` is a
    lazy User, loaded (in a worker thread, by a handler's ORM code) only when a handler uses it."""

    user_id = None
    bucket = None
    closing = False  # set once the server closed the socket: nothing more is sent
    store_down = False  # Redis refused the socket's channel at the handshake
    last_seq = 0  # the highest event seq sent on this socket (live or replayed)

    @property
    def user(self):
        return self.scope.get("user") if self.user_id is not None else None

    async def __call__(self, scope, receive, send):
        """AsyncConsumer.__call__ with dispatch_from in place of await_many_dispatch."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        channel_receive = None
        if self.channel_layer is not None:
            try:
                self.channel_name = await self.channel_layer.new_channel()
            except Exception as exc:
                if not backing_service_down(exc):
                    raise
                logger.warning("socket handshake refused: Redis is unavailable (%s: %s)", type(exc).__name__, exc)
                self.store_down = True  # connect() accepts and closes with 1013
            else:
                channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        try:
            await dispatch_from(receive, channel_receive, self.dispatch)
        except StopConsumer:
            pass

    async def dispatch(self, message):
        kind = message["type"]
        if kind == "websocket.receive":  # the hot path (location updates): straight to receive
            text = message.get("text")
            await self.receive(text_data=text, bytes_data=message.get("bytes") if text is None else None)
        elif kind in _DIRECT_TYPES:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if self.store_down:
            await self.close_once(CLOSE_TRY_AGAIN_LATER, SERVICE_UNAVAILABLE)
            return
        if user is None:
            error = self.scope.get("auth_error") or "not_authenticated"
            await self.close_once(CLOSE_TRY_AGAIN_LATER if error == SERVICE_UNAVAILABLE else CLOSE_UNAUTHORIZED, error)
            return
        groups = [user_group(self.scope["user_id"])]
        if self.scope.get("user_is_staff", False):  # staff sockets also get the ops page's snapshots (nebengjek.ops)
            groups.append(OPS_GROUP)
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
        except Exception as exc:
            if not backing_service_down(exc):
                raise
            logger.warning("socket handshake refused: Redis is unavailable (%s: %s)", type(exc).__name__, exc)
            await self.close_once(CLOSE_TRY_AGAIN_LATER, SERVICE_UNAVAILABLE)
            return
        self.user_id = self.scope["user_id"]
        WS_CONNECTIONS.inc()

    async def close_once(self, code: int, reason: str) -> None:
        """Close from the server side once; nothing more is sent on this socket."""
        if not self.closing:
            self.closing = True
            await self.close(code=code, reason=reason)

    async def websocket_disconnect(self, message):
        """Leave the groups even when Redis is gone: its subscriptions went with it, so a failed UNSUBSCRIBE is
        nothing to clean up (Channels' own version lets the error escape the closing socket)."""
        for group in self.groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except (redis.RedisError, OSError):
                logger.warning("group_discard failed: Redis unreachable", extra={"group": group})
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        if self.user_id is not None:
            WS_CONNECTIONS.dec()

    async def receive(self, text_data=None, bytes_data=None):
        if self.user_id is None:
            return
        bucket = self.bucket
        if bucket is None:
            bucket = self.bucket = TokenBucket(_limits().rate_per_second)
        if not bucket.take():  # every frame takes a token before any parsing: garbage is limited like the rest
            WS_MESSAGES_THROTTLED.inc()
            await self.send_error(_message_id(text_data), SocketError.RATE_LIMITED,
                                  f"At most {settings.WS_RATE_PER_SECOND} messages a second.")
            return
        if text_data is None:
            await self.send_error(None, SocketError.INVALID_MESSAGE, "Send JSON text frames.")
            return
        if len(text_data) > _limits().max_message_bytes:  # characters >= bytes / 4; uvicorn enforces bytes
            await self.send_error(None, SocketError.MESSAGE_TOO_LARGE,
                                  f"Messages are limited to {settings.WS_MAX_MESSAGE_BYTES} bytes.")
            return
        try:
            message = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            await self.send_error(None, CommonError.MALFORMED_JSON, "The message is not valid JSON.")
            return
        if not isinstance(message, dict):
            await self.send_error(None, SocketError.INVALID_MESSAGE, "A message is a JSON object with a type.")
            return
        message_id = message.get("id")
        if message_id is not None and type(message_id) not in _ID_TYPES:
            await self.send_error(None, CommonError.INVALID_INPUT, "id: A string or a number is required.",
                                  {"id": ["A string or a number is required."]})
            return
        await self.handle(message_id, message)

    async def handle(self, message_id, message):
        handler = _handlers().get(message.get("type")) if isinstance(message.get("type"), str) else None
        if handler is None:
            await self.send_error(message_id, SocketError.UNKNOWN_TYPE,
                                  f"Unknown message type {message.get('type')!r}.", {"types": sorted(_handlers())})
            return
        try:
            extra = await handler(self, message)
        except DomainError as exc:
            await self.send_error(message_id, exc.code, exc.message, exc.details)
            return
        except redis.RedisError:
            logger.exception("socket message failed on Redis", extra={"type": message["type"]})
            await self.send_error(message_id, CommonError.SERVICE_UNAVAILABLE, "Briefly unavailable, try again.")
            return
        except Exception:
            logger.exception("socket message failed", extra={"type": message["type"]})
            await self.send_error(message_id, CommonError.SERVER_ERROR, "Internal server error.")
            return
        if message_id is not None:
            await self.send_json({"type": "ack", "id": message_id, **(extra or {})})

    async def send_json(self, content):
        if not self.closing:
            await self.send(text_data=orjson.dumps(content).decode())

    async def send_error(self, message_id, code, message, details=None):
        error = {"code": getattr(code, "value", code), "message": message, "details": details or {}}
        body = {"type": "error", "error": error}
        if message_id is not None:
            body["id"] = message_id
        await self.send_json(body)

    async def send_event(self, event):
        """Send one stored/pushed event, remembering the highest seq sent (a live duplicate is then skipped)."""
        self.last_seq = max(self.last_seq, event.get("seq") or 0)
        await self.send_json(event)

    # Channel-layer messages (from nebengjek.realtime) -------------------------------------------------------
    async def realtime_event(self, message):
        event = message["event"]
        if event.get("seq") is not None and event["seq"] <= self.last_seq:
            return  # already sent by a `resume` replay
        await self.send_event(event)

    async def ops_snapshot(self, message):
        """A snapshot from the ops broadcaster, already serialized once for every staff socket."""
        await self.send(text_data=message["text"])

    async def session_revoke(self, message):
        sid = message.get("sid")
        if sid is None or sid == self.scope.get("token_sid"):
            await self.close_once(CLOSE_UNAUTHORIZED, "session_ended")
