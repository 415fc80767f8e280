"""What the rides domain pushes: `ride.updated` with the ride in its REST shape, to driver and passenger."""
from nebengjek.realtime import send_event_on_commit
from rides.serializers import RideOutputSerializer

RIDE_UPDATED = "ride.updated"


def ride_updated_send_on_commit(ride):
    """Store and (after commit) push `ride.updated` to both sides of the ride."""
    payload = {"ride": _plain(RideOutputSerializer(ride).data)}
    return send_event_on_commit([ride.driver_id, ride.passenger_id], RIDE_UPDATED, payload)


def _plain(data):
    """DRF's ReturnDict/OrderedDict into plain JSON-ready dicts (the payload is stored in a JSONField)."""
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(item) for item in data]
    return data
