"""Share my trip: a passenger's link to a public page that follows the driver (no sign-in).

The link carries a random token (32 bytes, URL-safe); only its SHA-256 is stored, so the database cannot hand out
working links. It works until revoked, or until the ride's end (or cancellation) plus RIDE_SHARE_AFTER_END_SECONDS.
What the public sees is deliberately small: the status, the driver's first name, the vehicle plate and type, and the
driver's latest position while the ride is live. No phone number, no passenger, no pickup or destination.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from rides.errors import RidesError, RidesException
from rides.live_trip import driver_position_get
from rides.models import Ride, RideShare

SHARE_PATH = "/share/"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_expires_at(ride: Ride) -> datetime | None:
    """None while the ride is live; else its end (or cancellation) plus RIDE_SHARE_AFTER_END_SECONDS."""
    ended = ride.ended_at or ride.cancelled_at
    return None if ended is None else ended + timedelta(seconds=settings.RIDE_SHARE_AFTER_END_SECONDS)


@dataclass(frozen=True)
class CreatedShare:
    share: RideShare
    token: str
    path: str
    expires_at: datetime | None


def ride_share_create(*, ride: Ride, user) -> CreatedShare:
    """A new share link for the ride's passenger (the driver: 403 not_the_passenger); 409 share_closed once the
    link would already be expired. The token is returned once, here."""
    if str(user.pk) != str(ride.passenger_id):
        raise RidesException(RidesError.NOT_THE_PASSENGER)
    expires_at = share_expires_at(ride)
    if expires_at is not None and timezone.now() >= expires_at:
        raise RidesException(RidesError.SHARE_CLOSED)
    token = secrets.token_urlsafe(32)
    share = RideShare.objects.create(ride=ride, token_hash=_token_hash(token), created_by=user)
    return CreatedShare(share=share, token=token, path=f"{SHARE_PATH}{token}", expires_at=expires_at)


def ride_share_revoke(*, ride: Ride, user, share_id) -> None:
    """The passenger ends one of the ride's links at once (404 share_not_found: unknown or already revoked)."""
    if str(user.pk) != str(ride.passenger_id):
        raise RidesException(RidesError.NOT_THE_PASSENGER)
    revoked = RideShare.objects.filter(pk=share_id, ride=ride, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:
        raise RidesException(RidesError.SHARE_NOT_FOUND)


def shared_ride_get(*, token) -> Ride:
    """The ride a working link points at; an unknown, revoked or expired link is 404 share_not_found (the same
    answer for each, so a guesser learns nothing)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise RidesException(RidesError.SHARE_NOT_FOUND)
    share = (
        RideShare.objects.filter(token_hash=_token_hash(token), revoked_at__isnull=True)
        .select_related("ride__driver__driver_profile")
        .first()
    )
    if share is None:
        raise RidesException(RidesError.SHARE_NOT_FOUND)
    expires_at = share_expires_at(share.ride)
    if expires_at is not None and timezone.now() >= expires_at:
        raise RidesException(RidesError.SHARE_NOT_FOUND)
    return share.ride


def _first_name(full_name: str) -> str:
    parts = (full_name or "").split()
    return parts[0] if parts else ""


def shared_trip_state(*, token) -> dict:
    """The public page's JSON: status, the driver's first name and vehicle, the driver's latest position (live
    rides only; no distance or ETA: they would tell where the pickup is) and when the link expires."""
    ride = shared_ride_get(token=token)
    profile = getattr(ride.driver, "driver_profile", None)
    position = driver_position_get(ride)
    if position is not None:
        position = {key: position[key] for key in ("lat", "lng", "heading", "recorded_at")}
    expires_at = share_expires_at(ride)
    return {
        "status": ride.status,
        "driver": {
            "first_name": _first_name(ride.driver.full_name),
            "vehicle_plate": profile.vehicle_plate if profile else None,
            "vehicle_type": profile.vehicle_type if profile else None,
        },
        "driver_position": position,
        "expires_at": None if expires_at is None else expires_at.isoformat().replace("+00:00", "Z"),
    }
