"""Givens shared by the matching tests: drivers online at a distance from a pickup, requests, what users got."""

from accounts.tests.factories import make_driver, make_passenger
from locations.services import beacon_set, location_ingest
from nebengjek.models import Event

PICKUP = (-6.2, 106.8)
DESTINATION = (-6.21, 106.8)  # 1,111.95 m south of PICKUP: 3,336 IDR without surge (../shared/API.md "Fare")
METRES_PER_DEGREE_LAT = 111_195.08  # on the haversine sphere, R = 6371.0088 km


def north_of(point, metres):
    return point[0] + metres / METRES_PER_DEGREE_LAT, point[1]


def driver_online(metres_from_pickup, *, point=PICKUP, **kwargs):
    """A verified driver with the beacon on, last seen `metres_from_pickup` north of `point`."""
    driver = make_driver(**kwargs)
    beacon_set(user=driver, active=True)
    lat, lng = north_of(point, metres_from_pickup)
    assert location_ingest(user=driver, lat=lat, lng=lng)
    return driver


def request_body(pickup=PICKUP, destination=DESTINATION, **extra):
    return {
        "pickup": {"lat": pickup[0], "lng": pickup[1]},
        "destination": {"lat": destination[0], "lng": destination[1]},
        **extra,
    }


def ask_for_ride(client, pickup=PICKUP, destination=DESTINATION, **extra):
    response = client.post("/api/v1/rides/requests", request_body(pickup, destination, **extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def received(user, type=None):
    """The events stored for `user` (what their socket got or will replay), oldest first: [(type, payload)]."""
    rows = Event.objects.filter(user_id=user.pk).order_by("seq")
    if type is not None:
        rows = rows.filter(type=type)
    return [(event.type, event.payload) for event in rows]


def proposals_of(user):
    return [payload["match"] for _, payload in received(user, "match.proposal")]


def last_proposal(user):
    proposals = proposals_of(user)
    assert proposals, f"{user} received no proposal"
    return proposals[-1]


__all__ = [
    "make_driver",
    "make_passenger",
    "PICKUP",
    "DESTINATION",
    "north_of",
    "driver_online",
    "request_body",
    "ask_for_ride",
    "received",
    "proposals_of",
    "last_proposal",
]
