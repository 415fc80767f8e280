"""One way to push to users: persist the event in the caller's transaction, deliver it after the commit.

The database is the truth (clients replay by `seq`); the channel-layer push is only the fast path.
"""
import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from nebengjek.models import Event

logger = logging.getLogger(__name__)

OPS_GROUP = "ops"


def user_group(user_id):
    return f"user.{user_id}"


def _next_seq(user_id):
    table = "nebengjek_eventcursor"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, last_seq) VALUES (%s, 1) "
            f"ON CONFLICT (user_id) DO UPDATE SET last_seq = {table}.last_seq + 1 RETURNING last_seq",
            [_db_id(user_id)],
        )
        return cursor.fetchone()[0]


def _db_id(user_id):
    user_uuid = uuid.UUID(str(user_id))
    return user_uuid.hex if connection.vendor == "sqlite" else user_uuid


def send_event_on_commit(user_ids, type, payload):
    """Store `type`+`payload` for each user with the next per-user `seq`; push to `user.<id>` after commit.

    Call it inside the service's transaction; outside one it commits at once. Returns the stored events.
    """
    now = timezone.now()
    with transaction.atomic():
        events = [
            Event(user_id=user_id, seq=_next_seq(user_id), type=type, payload=payload, created_at=now)
            for user_id in sorted({str(u) for u in user_ids})  # one lock order for the cursors
        ]
        Event.objects.bulk_create(events)
        messages = [(user_group(event.user_id), event.as_message()) for event in events]
        transaction.on_commit(lambda: push_messages(messages))
    return events


def push_messages(messages):
    """Best-effort delivery to connected sockets; a lost push is recovered by `resume`."""
    try:
        async_to_sync(_group_send_all)(messages)
    except Exception:  # the event is stored; a client that missed it resumes by seq
        logger.exception("realtime push failed", extra={"groups": [group for group, _ in messages]})


async def _group_send_all(messages):
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, {"type": "realtime.event", "event": message})


def events_after(*, user_id, after, limit=500):
    return list(Event.objects.filter(user_id=user_id, seq__gt=after).order_by("seq")[:limit])


def close_sessions_on_commit(user_id, *, sid=None):
    """Close the user's open sockets after the commit (all of them, or those of one sign-in session `sid`)."""
    message = {"type": "session.revoke", "sid": sid}
    transaction.on_commit(lambda: _push_control(user_group(user_id), message))


def _push_control(group, message):
    try:
        async_to_sync(get_channel_layer().group_send)(group, message)
    except Exception:
        logger.exception("session revoke push failed", extra={"group": group})
