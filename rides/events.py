"""What the rides domain pushes: `ride.updated` with the ride in its REST shape, to driver and passenger."""
from nebengjek.realtime import plain, send_event_on_commit
from nebengjek.serializers import event_message_serializer
from rides.serializers import RideOutputSerializer

RIDE_UPDATED = "ride.updated"
# What each event type carries, for the schema of GET /api/v1/events.
EVENT_MESSAGES = {RIDE_UPDATED: event_message_serializer("RideUpdatedMessage", [RIDE_UPDATED], ride=RideOutputSerializer())}


def ride_updated_send_on_commit(ride):
    """Store and (after commit) push `ride.updated` to both sides of the ride."""
    payload = {"ride": plain(RideOutputSerializer(ride).data)}
    return send_event_on_commit([ride.driver_id, ride.passenger_id], RIDE_UPDATED, payload)

