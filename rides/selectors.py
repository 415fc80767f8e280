from django.db.models import Q

from rides.errors import RidesError, RidesException
from rides.models import Ride, TrackPoint


def _rides_with_people():
    return Ride.objects.select_related("driver__driver_profile", "passenger")


def ride_get_visible(*, ride_id, user):
    """The ride if `user` is its driver or passenger; anyone else gets 404 (a ride's existence is private)."""
    ride = _rides_with_people().filter(pk=ride_id).filter(Q(driver=user) | Q(passenger=user)).first()
    if ride is None:
        raise RidesException(RidesError.RIDE_NOT_FOUND)
    return ride


def ride_get_for_output(ride_id):
    return _rides_with_people().get(pk=ride_id)


def ride_list_for_user(*, user):
    """The user's rides as driver or passenger, newest first."""
    return _rides_with_people().filter(Q(driver=user) | Q(passenger=user)).order_by("-created_at", "-id")


def ride_track_points(*, ride_id):
    return TrackPoint.objects.filter(ride_id=ride_id).order_by("recorded_at", "id")
