"""The one WebSocket of a signed-in user (`/ws/`): framing, limits, ack/error by id, pushes and session closes.

What each client message type does lives in gateway.ws_handlers.HANDLERS; this class only carries messages.
Close codes: 4401 = credentials do not hold (missing/bad/expired token, logged out, suspended): sign in again.
1013 = try again later: the database or Redis could not answer during the handshake; reconnect with backoff.
4408 = too slow: the client let more pushes pile up unread than the server keeps (WS_SEND_QUEUE_MAX_*); reconnect and
`resume` with the last seq seen.
"""

import asyncio
import collections
import functools
import logging
import time
from typing import Any

import orjson
import redis
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from gateway.ws_auth import SERVICE_UNAVAILABLE
from locations.metrics import WS_CONNECTIONS, WS_MESSAGES_THROTTLED, WS_SLOW_CONSUMERS_CLOSED
from nebengjek import tracing
from nebengjek.errors import CommonError, DomainError, SocketError
from nebengjek.exceptions import backing_service_down
from nebengjek.metrics import PROPOSALS_DROPPED_EXPIRED
from nebengjek.middleware import bind_user_id
from nebengjek.realtime import OPS_GROUP, proposal_expiry, user_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: "Try Again Later"
CLOSE_SLOW_CONSUMER = 4408


# Message types handled on the event loop without Channels' per-message database-connection hop (pitfall 1 of
# ../shared/PERFORMANCE.md), besides websocket.receive (dispatch's first branch); handlers that need the ORM use
# database_sync_to_async, which cleans up itself.
_DIRECT_TYPES = frozenset({"realtime.event", "session.revoke", "ops.snapshot"})

# Channel-layer messages that only join the socket's outbox: the channel pump handles them without the lock, so a
# client that stops reading cannot make them pile up unseen in the layer.
_PUSH_TYPES = frozenset({"realtime.event", "ops.snapshot"})

_ID_TYPES = frozenset({str, int, float})  # a message `id` is a JSON string or number (not true, not an object)


_JSON_TYPE_NAMES = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}


def _unknown_type_error(message: dict) -> tuple[str, dict]:
    """The message and details of an unknown_type error: what was sent and the types this server knows."""
    known = sorted(_handlers())
    listed = ", ".join(known)
    sent = message.get("type")
    if sent is None:
        text = f"The message has no type; send one of: {listed}."
    elif not isinstance(sent, str):
        sent_as = _JSON_TYPE_NAMES.get(type(sent), "that")
        text = f"The message type must be a string, not {sent_as}; send one of: {listed}."
    else:
        text = f"Unknown message type {sent[:64]!r}; send one of: {listed}."
    return text, {
        "type": sent[:64] if isinstance(sent, str) else sent if isinstance(sent, (int, float)) else None,
        "types": known,
    }


class _Limits:
    __slots__ = ("max_message_bytes", "rate_per_second", "send_queue_max_messages", "send_queue_max_bytes")

    def __init__(self):
        self.max_message_bytes = settings.WS_MAX_MESSAGE_BYTES
        self.rate_per_second = settings.WS_RATE_PER_SECOND
        self.send_queue_max_messages = settings.WS_SEND_QUEUE_MAX_MESSAGES
        self.send_queue_max_bytes = settings.WS_SEND_QUEUE_MAX_BYTES


_cached: dict[str, Any] = {}


def _limits():
    """The socket settings, read once (re-read after a test changes settings)."""
    limits = _cached.get("limits")
    if limits is None:
        limits = _cached["limits"] = _Limits()
    return limits


def _handlers():
    handlers = _cached.get("handlers")
    if handlers is None:
        from gateway.ws_handlers import HANDLERS

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


async def _pump_unlocked(source, dispatch):
    while True:
        await dispatch(await source())


async def dispatch_from(receive, channel_receive, dispatch, lock, channel_dispatch):
    """Channels' await_many_dispatch without its per-message cost: instead of a new Task and an asyncio.wait() for
    every message (most of a location update's server CPU: bench scenario 1), the socket's messages are pumped in
    this task under `lock` and the channel layer's in one long-lived task through `channel_dispatch`, which takes
    the lock itself when it sends. Returns or raises (StopConsumer included) as soon as either pump does, after
    cancelling the other."""
    if channel_receive is None:
        await _pump(receive, dispatch, lock)
        return
    main = asyncio.current_task()
    pumping = True

    def side_done(task):
        if pumping and not task.cancelled():
            main.cancel()  # type: ignore[union-attr]  # wake this task: the side pump's exception is raised below

    side = asyncio.ensure_future(_pump_unlocked(channel_receive, channel_dispatch))
    side.add_done_callback(side_done)
    try:
        await _pump(receive, dispatch, lock)
    except asyncio.CancelledError:
        if side.done() and not side.cancelled():
            main.uncancel()  # type: ignore[union-attr]  # (this runs in a task)
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


def _server_transport(send):
    """The connection's transport when the server is uvicorn (its ASGI `send` is a method of the protocol that holds
    it), else None. Only to drop a connection whose client stopped reading: ASGI has no abort."""
    return getattr(getattr(send, "__self__", None), "transport", None)


class UserSocketConsumer(AsyncWebsocketConsumer):
    """Per socket it keeps only the user id, the session id (in the scope), a few flags, and a token bucket made
    at the first message: ~32 KB per idle socket matter at 10k+ drivers (bench scenario 5). `scope["user"]` is a
    lazy User, loaded (in a worker thread, by a handler's ORM code) only when a handler uses it."""

    user_id = None
    bucket = None
    closing = False  # set once the server closed the socket: nothing more is sent
    store_down = False  # Redis refused the socket's channel at the handshake
    left = False  # the groups were left (websocket_disconnect ran)
    last_seq = 0  # the highest event seq sent on this socket (live or replayed)
    # pushes not yet handed to the server, made at the first push; each (seq, text, expires_at: a proposal's, else None)
    outbox: collections.deque[tuple[int | None, str, float | None]] | None = None
    outbox_chars = 0
    writer = None  # the task handing the outbox to the server, while there is something to hand

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
        self.lock = asyncio.Lock()
        try:
            await dispatch_from(receive, channel_receive, self.dispatch, self.lock, self.dispatch_channel)
        except StopConsumer:
            pass
        finally:
            if self.writer is not None:
                self.writer.cancel()

    async def dispatch_channel(self, message):
        """A channel-layer message: a push only joins the outbox (no lock, no wait for the client); anything else
        is dispatched in turn with the socket's own messages."""
        if message["type"] in _PUSH_TYPES:
            await self.dispatch(message)
        else:
            async with self.lock:
                await self.dispatch(message)

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
        if self.scope.get("user_is_staff", False):  # staff sockets also get the ops page's snapshots (gateway.ops)
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
        bind_user_id(self.user_id)  # this socket's task: its log lines carry the user
        WS_CONNECTIONS.inc()

    async def close_once(self, code: int, reason: str) -> None:
        """Close from the server side once; nothing more is sent on this socket."""
        if not self.closing:
            self.closing = True
            try:
                await self.base_send({"type": "websocket.close", "code": code, "reason": reason})
            except OSError:  # the client is already gone (uvicorn's ClientDisconnected)
                pass

    async def websocket_disconnect(self, message):
        """Leave the groups even when Redis is gone: its subscriptions went with it, so a failed UNSUBSCRIBE is
        nothing to clean up (Channels' own version lets the error escape the closing socket)."""
        if self.left:
            raise StopConsumer()
        self.left = True
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
            await self.send_error(
                _message_id(text_data),
                SocketError.RATE_LIMITED,
                f"At most {settings.WS_RATE_PER_SECOND} messages a second.",
            )
            return
        if text_data is None:
            await self.send_error(None, SocketError.INVALID_MESSAGE, "Send JSON text frames.")
            return
        if len(text_data) > _limits().max_message_bytes:  # characters >= bytes / 4; uvicorn enforces bytes
            await self.send_error(
                None, SocketError.MESSAGE_TOO_LARGE, f"Messages are limited to {settings.WS_MAX_MESSAGE_BYTES} bytes."
            )
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
            await self.send_error(
                None,
                CommonError.INVALID_INPUT,
                "id: A string or a number is required.",
                {"id": ["A string or a number is required."]},
            )
            return
        await self.handle(message_id, message)

    async def handle(self, message_id, message):
        handler = _handlers().get(message.get("type")) if isinstance(message.get("type"), str) else None
        if handler is None:
            await self.send_error(message_id, SocketError.UNKNOWN_TYPE, *_unknown_type_error(message))
            return
        try:
            with tracing.socket_message_span(message["type"], self.user_id):
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
            await self.send_text(orjson.dumps(content).decode())

    async def send_text(self, text: str) -> None:
        try:
            await self.base_send({"type": "websocket.send", "text": text})
        except OSError:  # the client went away mid-send (uvicorn's ClientDisconnected): nothing more to send
            self.closing = True

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

    # Pushes: queued per socket, bounded, handed to the server by one writer task at a time -------------------
    async def push(self, text: str, seq: int | None, expires_at: float | None = None) -> None:
        """Queue a push; when more than the limits already wait unsent, the client is not reading: close it.
        A push with `expires_at` (epoch seconds: a proposal's expiry) is dropped if it is still unsent by then."""
        if self.closing:
            return
        if self.outbox and self.outbox_full(len(text)):
            await asyncio.sleep(0)  # a burst from one Redis read: first let the writer hand over what the server takes
            if self.closing:
                return
            if self.outbox and self.outbox_full(len(text)):
                await self.close_slow_consumer(len(self.outbox))
                return
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = collections.deque()
        outbox.append((seq, text, expires_at))
        self.outbox_chars += len(text)
        if self.writer is None:
            self.writer = asyncio.ensure_future(self.drain_outbox())

    def outbox_full(self, adding: int) -> bool:
        limits = _limits()
        return (
            len(self.outbox) >= limits.send_queue_max_messages  # type: ignore[arg-type]  # called with an outbox
            or self.outbox_chars + adding > limits.send_queue_max_bytes
        )

    async def drain_outbox(self) -> None:
        """Hand the outbox to the server in order, one message per turn of the lock (acks interleave); a send that
        waits is the server's write buffer being full: the client is not reading."""
        outbox = self.outbox
        try:
            while outbox:
                async with self.lock:
                    if self.closing:  # closed while this task waited for its turn: nothing more is sent
                        return
                    seq, text, expires_at = outbox.popleft()
                    self.outbox_chars -= len(text)
                    if seq is not None:
                        if seq <= self.last_seq:
                            continue  # already sent by a `resume` replay
                        self.last_seq = seq
                    if expires_at is not None and time.time() >= expires_at:
                        PROPOSALS_DROPPED_EXPIRED.inc()  # too late to be answered: the event stays stored
                        continue
                    await self.send_text(text)
        finally:
            self.writer = None
            if self.outbox is outbox and not outbox:
                self.outbox = None  # an idle socket keeps no queue

    async def close_slow_consumer(self, waiting: int) -> None:
        """Close with 4408 behind what the server already holds; if the client does not take even that within
        WS_SLOW_CLOSE_TIMEOUT_SECONDS, drop the connection. The events are stored: the client resumes by seq."""
        self.closing = True
        self.outbox, self.outbox_chars = None, 0
        if self.writer is not None:
            self.writer.cancel()  # it waits on a full write buffer
        WS_SLOW_CONSUMERS_CLOSED.inc()
        logger.warning(
            "closing a socket whose client stopped reading (4408)",
            extra={"user_id": self.user_id, "pushes_waiting": waiting},
        )
        try:
            async with asyncio.timeout(settings.WS_SLOW_CLOSE_TIMEOUT_SECONDS), self.lock:
                await self.base_send(
                    {"type": "websocket.close", "code": CLOSE_SLOW_CONSUMER, "reason": "slow_consumer"}
                )
            return  # the server answers with websocket.disconnect, which ends this consumer
        except (TimeoutError, OSError):
            pass
        transport = _server_transport(self.base_send)
        if transport is not None:
            transport.abort()  # drops the buffered bytes and the connection at once
        await self.websocket_disconnect({"code": CLOSE_SLOW_CONSUMER})  # leaves the groups, ends the consumer

    # Channel-layer messages (from nebengjek.realtime) -------------------------------------------------------
    async def realtime_event(self, message):
        event = message["event"]
        if "traceparent" in message:
            tracing.push_delivered(event["type"], message["traceparent"], self.user_id, event.get("seq"))
        await self.push(orjson.dumps(event).decode(), event.get("seq"), proposal_expiry(event))

    async def ops_snapshot(self, message):
        """A snapshot from the ops broadcaster, already serialized once for every staff socket."""
        await self.push(message["text"], None)

    async def session_revoke(self, message):
        sid = message.get("sid")
        if sid is None or sid == self.scope.get("token_sid"):
            await self.close_once(CLOSE_UNAUTHORIZED, "session_ended")
