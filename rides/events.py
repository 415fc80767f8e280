"""What the rides domain pushes: `ride.updated` with the ride in its REST shape and `ride.driver_arrived`, to driver
and passenger; the chat's events (rides/chat.py) are listed here for the schema of GET /api/v1/events."""

from rest_framework import serializers

from nebengjek.realtime import plain, send_event_on_commit, send_events_on_commit
from nebengjek.serializers import event_message_serializer
from rides.chat import CHAT_MESSAGE, CHAT_RECEIPT, RECEIPT_STATUSES
from rides.chat_apis import ChatMessageOutputSerializer
from rides.serializers import RideOutputSerializer

RIDE_UPDATED = "ride.updated"
RIDE_DRIVER_ARRIVED = "ride.driver_arrived"
# What each event type carries, for the schema of GET /api/v1/events.
EVENT_MESSAGES = {
    RIDE_UPDATED: event_message_serializer("RideUpdatedMessage", [RIDE_UPDATED], ride=RideOutputSerializer()),
    RIDE_DRIVER_ARRIVED: event_message_serializer(
        "RideDriverArrivedMessage",
        [RIDE_DRIVER_ARRIVED],
        ride_id=serializers.UUIDField(),
        driver_arrived_at=serializers.DateTimeField(),
    ),
    CHAT_MESSAGE: event_message_serializer("ChatMessageMessage", [CHAT_MESSAGE], message=ChatMessageOutputSerializer()),
    CHAT_RECEIPT: event_message_serializer(
        "ChatReceiptMessage",
        [CHAT_RECEIPT],
        ride_id=serializers.UUIDField(),
        message_id=serializers.UUIDField(),
        status=serializers.ChoiceField(choices=list(RECEIPT_STATUSES)),
        at=serializers.DateTimeField(),
    ),
}


def ride_updated_send_on_commit(ride, *, events_before=()):
    """Store and (after commit) push `ride.updated` to both sides of the ride, after the caller's `events_before`
    ((user_ids, type, payload) each), all in one statement."""
    payload = {"ride": plain(RideOutputSerializer(ride).data)}
    return send_events_on_commit([*events_before, ([ride.driver_id, ride.passenger_id], RIDE_UPDATED, payload)])


def ride_driver_arrived_send_on_commit(*, ride, at):
    """Store and (after commit) push `ride.driver_arrived` to both sides: the driver is at the pickup."""
    payload = {"ride_id": str(ride.pk), "driver_arrived_at": at.isoformat().replace("+00:00", "Z")}
    return send_event_on_commit([ride.driver_id, ride.passenger_id], RIDE_DRIVER_ARRIVED, payload)
