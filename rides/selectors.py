import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet

from accounts.models import User
from nebengjek.models import Event
from nebengjek.queries import one_or_none
from rides.errors import RidesError, RidesException
from rides.models import Ride, RideStatus, TrackPoint


def _rides_with_people() -> QuerySet[Ride]:
    return Ride.objects.select_related("driver__driver_profile", "passenger", "request")


def ride_get_visible(*, ride_id: UUID | str, user: User, with_people: bool = True) -> Ride:
    """The ride if `user` is its driver or passenger; anyone else gets 404 (a ride's existence is private).
    `with_people=False`: the ride's row alone (no join of its driver, passenger and request)."""
    rides = _rides_with_people() if with_people else Ride.objects.all()
    ride = one_or_none(rides.filter(pk=ride_id).filter(Q(driver=user) | Q(passenger=user)))
    if ride is None:
        raise RidesException(RidesError.RIDE_NOT_FOUND)
    return ride


def ride_get_for_output(ride_id: UUID | str) -> Ride:
    return _rides_with_people().get(pk=ride_id)


def ride_list_for_user(*, user: User) -> QuerySet[Ride]:
    """The user's rides as driver or passenger, newest first."""
    return _rides_with_people().filter(Q(driver=user) | Q(passenger=user)).order_by("-created_at", "-id")


def ride_track_points(*, ride_id: UUID | str) -> QuerySet[TrackPoint]:
    return TrackPoint.objects.filter(ride_id=ride_id).order_by("recorded_at", "id")


@dataclass(frozen=True)
class MeterReference:
    """A ride's durable last accepted point: what the next position of its driver is judged against."""

    ride_id: str
    driver_id: str
    lat: float
    lng: float
    recorded_at: datetime


def ride_meter_reference(*, ride_id: UUID | str, driver_id: UUID | str) -> MeterReference | None:
    """The last accepted point of `ride_id` if it is in progress with `driver_id` at the wheel, else None.
    Locks the ride's row (call it in a transaction): a start or end in flight commits first."""
    if not _uuids([ride_id]):
        return None
    # Locked by id alone: PostgreSQL skips, without waiting, a locked row whose committed version fails the filter.
    row = (
        Ride.objects.select_for_update()
        .filter(pk=ride_id)
        .values_list("driver_id", "status", "track_last_lat", "track_last_lng", "track_last_at")
        .first()
    )
    if row is None or str(row[0]) != str(driver_id) or row[1] != RideStatus.IN_PROGRESS or row[4] is None:
        return None
    return MeterReference(
        ride_id=str(ride_id),
        driver_id=str(driver_id),
        lat=row[2],  # type: ignore[arg-type]  # the track_last_* fields are set together
        lng=row[3],  # type: ignore[arg-type]
        recorded_at=row[4],
    )


def ride_meter_references_in_progress() -> list[MeterReference]:
    """Every in-progress ride's last accepted point (to rebuild Redis' live state after a loss)."""
    rows = Ride.objects.filter(status=RideStatus.IN_PROGRESS, track_last_at__isnull=False).values_list(
        "pk", "driver_id", "track_last_lat", "track_last_lng", "track_last_at"
    )
    return [
        MeterReference(
            ride_id=str(ride_id),
            driver_id=str(driver_id),
            lat=lat,  # type: ignore[arg-type]  # the track_last_* fields are set together
            lng=lng,  # type: ignore[arg-type]
            recorded_at=at,  # type: ignore[arg-type]
        )
        for ride_id, driver_id, lat, lng, at in rows
    ]


def rides_tracking_wanted(*, lock_ride_ids: Iterable[Any] | None = None) -> dict[str, str]:
    """driver id -> ride id of every in-progress ride. With `lock_ride_ids`: of those rides only, their rows locked
    first (call it in a transaction), so a start or an end in flight commits before the answer."""
    if lock_ride_ids is None:
        rows: QuerySet[Ride, Any] = Ride.objects.filter(status=RideStatus.IN_PROGRESS).values_list("driver_id", "pk")
        return {str(driver_id): str(ride_id) for driver_id, ride_id in rows}
    ids = sorted(_uuids(lock_ride_ids))
    rows = Ride.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("driver_id", "pk", "status")
    return {str(driver_id): str(ride_id) for driver_id, ride_id, status in rows if status == RideStatus.IN_PROGRESS}


def _uuids(values: Iterable[Any]) -> set[uuid.UUID]:
    """The values that are UUIDs (Redis may hold anything)."""
    ids: set[uuid.UUID] = set()
    for value in values:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError:
            pass
    return ids


def ride_events(*, ride: Ride) -> list[Event]:
    """What was pushed to the ride's driver and passenger about it (its request, its match, the ride itself),
    newest first. Events are kept 24 h, so an older ride has none left."""
    request_id = str(ride.request_id)
    about_this_ride = (
        Q(payload__ride__id=str(ride.id))
        | Q(payload__match__request_id=request_id)
        | Q(payload__request__id=request_id)
    )
    return list(
        Event.objects.filter(user_id__in=[ride.driver_id, ride.passenger_id])
        .filter(about_this_ride)
        .order_by("-created_at", "-seq")
    )
