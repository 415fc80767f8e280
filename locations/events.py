"""What locations pushes: `beacon.updated` to the driver's own sockets, `{"active"}` as the beacon's REST answer."""

from rest_framework import serializers

from locations.serializers import BeaconOutputSerializer
from nebengjek.realtime import plain, send_event_on_commit
from nebengjek.serializers import event_message_serializer

BEACON_UPDATED = "beacon.updated"
# What each event type carries, for the schema of GET /api/v1/events.
EVENT_MESSAGES = {
    BEACON_UPDATED: event_message_serializer(
        "BeaconUpdatedMessage", [BEACON_UPDATED], active=serializers.BooleanField()
    )
}


def beacon_updated_send_on_commit(*, driver_id, active: bool):
    send_event_on_commit([driver_id], BEACON_UPDATED, plain(BeaconOutputSerializer({"active": active}).data))
