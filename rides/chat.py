"""In-ride chat between a ride's passenger and driver: send, receipts, the history; an operator's audited read.

A message is stored and pushed to the other side as a stored event (`chat.message`, with `seq`: `resume` replays
it). Sending is open from the confirm (the ride exists) until RIDE_CHAT_AFTER_END_SECONDS after the ride ends or is
cancelled, rate-limited per sender and ride. Only the ride's two sides read or write it; what they see of each other
is the side (passenger/driver), never a phone number.
"""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from nebengjek import redis_keys
from nebengjek.realtime import send_event_on_commit
from nebengjek.throttling import fixed_window_hit
from rides.errors import RidesError, RidesException
from rides.models import ChatMessage, ChatReadAudit, ChatSide, Ride

CHAT_MESSAGE = "chat.message"
CHAT_RECEIPT = "chat.receipt"
DELIVERED, READ = "delivered", "read"
RECEIPT_STATUSES = (DELIVERED, READ)

# The quick replies: code -> the text stored and shown.
QUICK_REPLIES = {
    "on_my_way": "I'm on my way.",
    "arrived": "I've arrived at the pickup point.",
    "running_late": "Running a few minutes late, sorry.",
    "where_are_you": "Where exactly are you?",
    "coming_out": "Coming out now.",
    "thanks": "OK, thank you!",
}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def chat_message_payload(message: ChatMessage) -> dict:
    """A chat message as both sides see it (REST, push and ack)."""
    return {
        "id": str(message.id),
        "ride_id": str(message.ride_id),
        "sender": message.sender_side,
        "text": message.text,
        "quick_reply": message.quick_reply or None,
        "created_at": _iso(message.created_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
    }


def side_of(*, ride: Ride, user_id) -> str:
    return ChatSide.DRIVER if str(user_id) == str(ride.driver_id) else ChatSide.PASSENGER


def _other_side(*, ride: Ride, user_id):
    return ride.passenger_id if str(user_id) == str(ride.driver_id) else ride.driver_id


def chat_closes_at(ride: Ride) -> datetime | None:
    """When the ride's chat closes: its end (or cancellation) plus RIDE_CHAT_AFTER_END_SECONDS; None while live."""
    ended = ride.ended_at or ride.cancelled_at
    return None if ended is None else ended + timedelta(seconds=settings.RIDE_CHAT_AFTER_END_SECONDS)


def chat_ride_get(*, ride_id, user_id) -> Ride:
    """The ride if the user is one of its two sides; anyone else gets 404 ride_not_found (as for the ride)."""
    ride = (
        Ride.objects.filter(pk=ride_id)
        .filter(Q(driver_id=user_id) | Q(passenger_id=user_id))
        .only("id", "driver_id", "passenger_id", "status", "ended_at", "cancelled_at")
        .first()
    )
    if ride is None:
        raise RidesException(RidesError.RIDE_NOT_FOUND)
    return ride


def _message_text(*, text, quick_reply) -> tuple[str, str]:
    """(text to store, quick reply code or "") from exactly one of a text and a known quick reply."""
    if quick_reply is not None:
        if text is not None or not isinstance(quick_reply, str) or quick_reply not in QUICK_REPLIES:
            raise RidesException(RidesError.INVALID_CHAT_MESSAGE, details={"quick_replies": sorted(QUICK_REPLIES)})
        return QUICK_REPLIES[quick_reply], quick_reply
    if not isinstance(text, str) or not text.strip() or len(text) > settings.RIDE_CHAT_MAX_CHARS:
        raise RidesException(RidesError.INVALID_CHAT_MESSAGE, details={"max_chars": settings.RIDE_CHAT_MAX_CHARS})
    return text.strip(), ""


def _rate_check(*, ride_id, user_id) -> None:
    """At most RIDE_CHAT_RATE_PER_MINUTE messages per sender and ride in a minute (a fixed window in Redis)."""
    key = redis_keys.key(redis_keys.RIDE_CHAT_RATE, ride_id=ride_id, user_id=user_id)
    retry = fixed_window_hit(key, limit=settings.RIDE_CHAT_RATE_PER_MINUTE, window_s=redis_keys.RIDE_CHAT_RATE_TTL)
    if retry is not None:
        raise RidesException(
            RidesError.CHAT_RATE_LIMITED, details={"retry_after_s": retry}, headers={"Retry-After": str(retry)}
        )


def chat_message_send(*, ride_id, user_id, text=None, quick_reply=None, client_id: str = "") -> ChatMessage:
    """Store a message from one side of the ride and push it to the other (`chat.message`). A `client_id` the
    sender already used in this ride returns that message again (a resend after a reconnect is not doubled)."""
    ride = chat_ride_get(ride_id=ride_id, user_id=user_id)
    body, code = _message_text(text=text, quick_reply=quick_reply)
    client_id = client_id[:64] if isinstance(client_id, str) else ""
    if client_id:
        existing = ChatMessage.objects.filter(ride_id=ride.pk, sender_id=user_id, client_id=client_id).first()
        if existing is not None:
            return existing
    closes_at = chat_closes_at(ride)
    now = timezone.now()
    if closes_at is not None and now > closes_at:
        raise RidesException(RidesError.CHAT_CLOSED, details={"closed_at": _iso(closes_at)})
    _rate_check(ride_id=ride.pk, user_id=user_id)
    try:
        with transaction.atomic():
            message = ChatMessage.objects.create(
                ride_id=ride.pk,
                sender_id=user_id,
                sender_side=side_of(ride=ride, user_id=user_id),
                text=body,
                quick_reply=code,
                client_id=client_id,
                created_at=now,
            )
            send_event_on_commit(
                [_other_side(ride=ride, user_id=user_id)], CHAT_MESSAGE, {"message": chat_message_payload(message)}
            )
    except IntegrityError:  # the same client_id raced in twice: the first one stands
        return ChatMessage.objects.get(ride_id=ride.pk, sender_id=user_id, client_id=client_id)
    return message


def chat_receipt(*, ride_id, user_id, message_id, status: str) -> int:
    """The user received (`delivered`) or read (`read`) the other side's messages up to `message_id`: mark them
    and, when any changed, tell their sender (`chat.receipt`). Read implies delivered. Returns how many changed."""
    if status not in RECEIPT_STATUSES:
        raise RidesException(
            RidesError.INVALID_CHAT_MESSAGE, "status: delivered or read.", details={"status": list(RECEIPT_STATUSES)}
        )
    ride = chat_ride_get(ride_id=ride_id, user_id=user_id)
    other = _other_side(ride=ride, user_id=user_id)
    target = (
        ChatMessage.objects.filter(pk=message_id, ride_id=ride.pk, sender_id=other).only("id", "created_at").first()
        if _is_uuid(message_id)
        else None
    )
    if target is None:
        raise RidesException(RidesError.CHAT_MESSAGE_NOT_FOUND)
    now = timezone.now()
    upto = ChatMessage.objects.filter(ride_id=ride.pk, sender_id=other, created_at__lte=target.created_at)
    with transaction.atomic():
        changed = upto.filter(delivered_at__isnull=True).update(delivered_at=now)
        if status == READ:
            changed = max(changed, upto.filter(read_at__isnull=True).update(read_at=now))
        if changed:
            send_event_on_commit(
                [other],
                CHAT_RECEIPT,
                {"ride_id": str(ride.pk), "message_id": str(target.pk), "status": status, "at": _iso(now)},
            )
    return changed


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def chat_messages_for_side(*, ride_id, user_id) -> QuerySet[ChatMessage]:
    """A ride's chat, oldest first, for one of its two sides (anyone else: 404 ride_not_found)."""
    ride = chat_ride_get(ride_id=ride_id, user_id=user_id)
    return ChatMessage.objects.filter(ride_id=ride.pk).order_by("created_at", "id")


def chat_messages_for_operator(*, ride_id, operator) -> list[ChatMessage]:
    """A ride's chat for an operator's screen; the read is recorded (ChatReadAudit) in the same transaction."""
    with transaction.atomic():
        messages = list(ChatMessage.objects.filter(ride_id=ride_id).order_by("created_at", "id"))
        ChatReadAudit.objects.create(operator=operator, ride_id=ride_id, messages=len(messages))
    return messages
