"""What each client message on `/ws/` does: message type -> async handler.

A handler is `async def handler(consumer, message: dict) -> dict | None`. It runs on the socket's event loop:
ORM work goes through `channels.db.database_sync_to_async`. The dict it returns is merged into the `ack` sent
when the message carries an `id`; raising nebengjek.errors.DomainError sends an `error` with its code instead.
The consumer (gateway.consumers.UserSocketConsumer) offers `consumer.user_id`, `consumer.user` (a lazy User:
load it only inside ORM code run by database_sync_to_async) and
`await consumer.send_event(event)`.

Adding a message type is one line in HANDLERS, e.g. `"match.accept": matching.consumers.match_accept,`.
"""

import time

from channels.db import database_sync_to_async
from django.conf import settings

from locations import consumers as locations_consumers
from matching import consumers as matching_consumers
from nebengjek.errors import CommonError, DomainError
from nebengjek.inputs import is_json_integer
from nebengjek.realtime import events_after, proposal_expiry
from rides import consumers as rides_consumers
from rides.live_trip import passenger_latest_message


async def ping(consumer, message):
    """Keep-alive / latency probe: just the ack."""
    return None


async def resume(consumer, message):
    """Replay the stored events after `after` (the last seq the client saw), in order, before the ack; then, for a
    passenger on a live ride, the driver's latest position (`ride.driver_location`). A `match.proposal` past its
    expiry is history, not an offer: it is skipped (the ack's `last_seq` covers it; `GET /api/v1/events` keeps it)."""
    after = message.get("after", 0)
    if not is_json_integer(after) or after < 0:
        raise DomainError(
            CommonError.INVALID_INPUT,
            "after: A non-negative integer is required.",
            details={"after": ["A non-negative integer is required."]},
        )
    replayed = 0
    while True:
        page = await database_sync_to_async(events_after)(
            user_id=consumer.user_id, after=after, limit=settings.EVENTS_PAGE_MAX
        )
        now = time.time()
        for event in page:
            if consumer.closing:  # the socket closed mid-replay: the client resumes again from what it got
                return None
            message = event.as_message()
            expires_at = proposal_expiry(message)
            if expires_at is not None and expires_at <= now:
                consumer.last_seq = max(consumer.last_seq, event.seq)  # a live copy of it is not sent either
                continue
            await consumer.send_event(message)
            replayed += 1
        if len(page) < settings.EVENTS_PAGE_MAX:
            latest = await database_sync_to_async(passenger_latest_message)(user_id=consumer.user_id)
            if latest is not None and not consumer.closing:  # a live push, not stored: the driver's position now
                await consumer.send_json(latest)
            return {"replayed": replayed, "last_seq": page[-1].seq if page else after}
        after = page[-1].seq


HANDLERS = {
    "ping": ping,
    "resume": resume,
    "beacon": locations_consumers.beacon,
    "location": locations_consumers.location,
    "match.accept": matching_consumers.match_accept,
    "match.reject": matching_consumers.match_reject,
    "chat.send": rides_consumers.chat_send,
    "chat.receipt": rides_consumers.chat_receipt,
}
