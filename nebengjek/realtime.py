"""One way to push to users: persist the event in the caller's transaction, deliver it after the commit.

The database is the truth (clients replay by `seq`); the channel-layer push is only the fast path.
"""

import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _consistent_hash
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from nebengjek import tracing
from nebengjek.models import Event
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

OPS_GROUP = "ops"

UserId = uuid.UUID | str
EventItem = tuple[Iterable[UserId], str, dict[str, Any]]  # (user_ids, type, payload): one event for each user


def user_group(user_id: UserId) -> str:
    return f"user.{user_id}"


_CURSOR_TABLE = "nebengjek_eventcursor"


def _allocate_seqs(counts: Counter[str]) -> dict[str, int]:
    """Reserve `counts[user_id]` consecutive seqs per user in one upsert; returns {user_id: last seq reserved}.

    Rows are upserted in user-id order, so concurrent writers lock the cursors in one order.
    """
    user_ids = sorted(counts)
    values = ", ".join(["(%s, %s)"] * len(user_ids))
    params = [part for user_id in user_ids for part in (_db_id(user_id), counts[user_id])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_CURSOR_TABLE} (user_id, last_seq) VALUES {values} ON CONFLICT (user_id) "
            f"DO UPDATE SET last_seq = {_CURSOR_TABLE}.last_seq + excluded.last_seq RETURNING user_id, last_seq",
            params,
        )
        return {str(uuid.UUID(str(user_id))): last_seq for user_id, last_seq in cursor.fetchall()}


def _db_id(user_id: UserId) -> uuid.UUID | str:
    user_uuid = uuid.UUID(str(user_id))
    return user_uuid.hex if connection.vendor == "sqlite" else user_uuid


def plain(data: Any) -> Any:
    """A serializer's output (DRF's ReturnDict/OrderedDict) as plain JSON-ready dicts and lists: the payload of a
    pushed event is stored in a JSONField and packed for the channel layer."""
    if isinstance(data, dict):
        return {key: plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [plain(item) for item in data]
    return data


def send_event_on_commit(user_ids: Iterable[UserId], type: str, payload: dict[str, Any]) -> list[Event]:
    """Store `type`+`payload` for each user with the next per-user `seq`; push to `user.<id>` after commit.

    Call it inside the service's transaction; outside one it commits at once. Returns the stored events.
    """
    return send_events_on_commit([(user_ids, type, payload)])


def send_events_on_commit(items: Iterable[EventItem]) -> list[Event]:
    """Like send_event_on_commit for several (user_ids, type, payload) at once: one upsert, one insert, one push."""
    recipients = [
        (str(uuid.UUID(str(user_id))), type, payload)
        for user_ids, type, payload in items
        for user_id in dict.fromkeys(user_ids)
    ]
    if not recipients:
        return []
    now = timezone.now()
    traceparent = tracing.current_traceparent()
    with transaction.atomic(savepoint=False):
        store = _events_store_sql if connection.vendor == "postgresql" else _events_store_orm
        events = store(recipients, now, traceparent)
        messages = [(user_group(event.user_id), _event_message(event)) for event in events]
        transaction.on_commit(lambda: push_messages(messages))
    return events


def _events_store_orm(recipients: list[tuple[str, str, dict]], now: datetime, traceparent: str) -> list[Event]:
    """Reserve the seqs (one upsert), then insert the events (one bulk insert): two statements."""
    counts = Counter(user_id for user_id, _, _ in recipients)
    last_seqs = _allocate_seqs(counts)
    next_seqs = {user_id: last_seqs[user_id] - counts[user_id] + 1 for user_id in counts}
    events = []
    for user_id, type, payload in recipients:
        events.append(
            Event(
                user_id=user_id,
                seq=next_seqs[user_id],
                type=type,
                payload=payload,
                created_at=now,
                traceparent=traceparent,
            )
        )
        next_seqs[user_id] += 1
    Event.objects.bulk_create(events)
    return events


_STORE_SQL = f"""
WITH cursors AS (
    INSERT INTO {_CURSOR_TABLE} (user_id, last_seq)
    SELECT u, n FROM unnest(%s::uuid[], %s::bigint[]) AS t(u, n) ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET last_seq = {_CURSOR_TABLE}.last_seq + excluded.last_seq
    RETURNING user_id, last_seq
)
INSERT INTO nebengjek_event (user_id, seq, type, payload, created_at, traceparent)
SELECT e.u, c.last_seq - e.n + e.o, e.t, e.p, %s, %s
FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::text[], %s::jsonb[]) AS e(u, n, o, t, p)
JOIN cursors c ON c.user_id = e.u
RETURNING id, user_id, seq
"""


def _events_store_sql(recipients: list[tuple[str, str, dict]], now: datetime, traceparent: str) -> list[Event]:
    """PostgreSQL: the same as _events_store_orm in one statement (the upsert in a CTE feeding the insert), the
    cursors still upserted in user-id order. Pinned against the ORM version by nebengjek/tests/test_events_store.py."""
    counts = Counter(user_id for user_id, _, _ in recipients)
    users = sorted(counts)
    offsets: list[int] = []
    seen: Counter[str] = Counter()
    for user_id, _, _ in recipients:
        seen[user_id] += 1
        offsets.append(seen[user_id])
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            [
                [uuid.UUID(u) for u in users],
                [counts[u] for u in users],
                now,
                traceparent,
                [uuid.UUID(u) for u, _, _ in recipients],
                [counts[u] for u, _, _ in recipients],
                offsets,
                [type for _, type, _ in recipients],
                [json.dumps(payload) for _, _, payload in recipients],
            ],
        )
        stored = cursor.fetchall()
    seqs: dict[str, list[int]] = {}
    ids: dict[tuple[str, int], int] = {}
    for pk, user_id, seq in stored:
        seqs.setdefault(str(user_id), []).append(seq)
        ids[(str(user_id), seq)] = pk
    for user_seqs in seqs.values():
        user_seqs.sort()
    events = []
    for (user_id, type, payload), offset in zip(recipients, offsets, strict=True):
        seq = seqs[user_id][offset - 1]
        events.append(
            Event(
                id=ids[(user_id, seq)],
                user_id=user_id,
                seq=seq,
                type=type,
                payload=payload,
                created_at=now,
                traceparent=traceparent,
            )
        )
    return events


def _event_message(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "realtime.event", "event": event.as_message()}
    if event.traceparent:  # the socket's push span continues the trace (never sent to the client)
        message["traceparent"] = event.traceparent
    return message


def push_messages(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Best-effort delivery of (group, message) to connected sockets; a lost push is recovered by `resume`."""
    try:
        with tracing.span("realtime.publish", {"messaging.batch.message_count": len(messages)}):
            _publish(messages)
    except Exception:  # the event is stored; a client that missed it resumes by seq
        logger.exception("realtime push failed", extra={"groups": [group for group, _ in messages]})


def _publish(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Publish straight to the pub/sub layer's Redis channels: one pipelined round trip per host.

    With several hosts a group's channel lives on the host channels_redis picks by the channel's name (the same
    hash the layer's subscribers use). From synchronous code (views, tasks) this avoids async_to_sync's fresh event
    loop and connection per call (costlier than the publish itself); any other channel layer goes through its own
    group_send.
    """
    layer = get_channel_layer()
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("hosts", [])
    if not isinstance(layer, RedisPubSubChannelLayer) or not hosts:
        async_to_sync(_group_send_all)(messages)
        return
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    pipes: dict[int, Any] = {}
    for group, message in messages:
        channel = f"{prefix}__group__{group}"
        shard = _consistent_hash(channel, len(hosts))
        pipe = pipes.get(shard)
        if pipe is None:
            pipe = pipes[shard] = get_redis(_host_url(hosts[shard])).pipeline(transaction=False)
        pipe.publish(channel, layer.serialize(message))
    for pipe in pipes.values():
        pipe.execute()


def _host_url(host: str | dict[str, Any]) -> str:
    return host["address"] if isinstance(host, dict) else host


async def _group_send_all(messages: Sequence[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, message)


PROPOSAL_TYPE = "match.proposal"


def proposal_expiry(event: dict) -> float | None:
    """A `match.proposal` event's expiry in epoch seconds (None for any other event): the socket drops a proposal it
    could only deliver after that (the driver could no longer accept it)."""
    if event.get("type") != PROPOSAL_TYPE:
        return None
    expires_at = (event.get("match") or {}).get("expires_at")
    if not isinstance(expires_at, str):
        return None
    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def events_after(*, user_id: UserId, after: int, limit: int = 500) -> list[Event]:
    return list(Event.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")[:limit])


def close_sessions_on_commit(user_id: UserId, *, sid: str | None = None) -> None:
    """Close the user's open sockets after the commit (all of them, or those of one sign-in session `sid`)."""
    message = {"type": "session.revoke", "sid": sid}
    transaction.on_commit(lambda: _push_control(user_group(user_id), message))


def _push_control(group: str, message: dict[str, Any]) -> None:
    push_messages([(group, message)])
