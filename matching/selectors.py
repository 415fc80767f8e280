"""Reads of requests and matches as their owners see them (a passenger their requests, a driver their matches)."""

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from accounts.models import User
from matching.errors import match_not_found, request_not_found
from matching.models import Match, MatchStatus, RideRequest
from nebengjek.queries import one_or_none
from rides.models import Ride

CURRENT_MATCH_STATUSES = [MatchStatus.ACCEPTED, MatchStatus.CONFIRMED]


def request_get_for_passenger(
    *, request_id: UUID | str, passenger: User
) -> tuple[RideRequest, Match | None, UUID | None]:
    """(request, current match or None, ride id or None); 404 unless it is the passenger's own."""
    request = one_or_none(RideRequest.objects.select_related("passenger").filter(id=request_id, passenger=passenger))
    if request is None:
        raise request_not_found()
    return request_with_current_match(request)


def request_with_current_match(request: RideRequest) -> tuple[RideRequest, Match | None, UUID | None]:
    """(request, current match or None, ride id or None) for a request already read, with its passenger."""
    match = (
        Match.objects.select_related("driver__driver_profile")
        .filter(request=request, status__in=CURRENT_MATCH_STATUSES)
        .first()
    )
    ride_id = Ride.objects.filter(match=match).values_list("id", flat=True).first() if match else None
    return request, match, ride_id


def match_get_for_driver(*, match_id: UUID | str, driver: User) -> Match:
    """A match as its driver sees it; 404 for anyone else."""
    match = (
        Match.objects.select_related("request__passenger", "driver__driver_profile")
        .filter(id=match_id, driver=driver)
        .first()
    )
    if match is None:
        raise match_not_found()
    return match


def drivers_held_ids(ids: Iterable[Any] | None = None) -> set[str]:
    """The drivers a live match holds (pending proposal, accepted, or on a ride), as strings; of `ids` only if given.
    The live sweeper mirrors this set in Redis."""
    rows = Match.objects.filter(holds_driver=True)
    if ids is not None:
        rows = rows.filter(driver_id__in=ids)
    return {str(pk) for pk in rows.values_list("driver_id", flat=True)}
