"""Every write to a ride: create (from matching's confirm), start, the meter, end, cancel.

Lock order (CONVENTIONS.md): request -> match -> ride. Pushes and tasks leave only after the commit.
"""

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from billing.tasks import settle_ride
from locations.geo import haversine_m
from locations.selectors import LivePosition, user_last_position
from locations.services import driver_busy_set, driver_ride_tracking_set
from nebengjek.metrics import METER_POINTS_REFUSED, RIDE_DISTANCE_CAPPED
from nebengjek.realtime import EventItem
from rides import cancellation, fare, live_trip, meter
from rides.errors import RidesError, RidesException, ride_status_words
from rides.events import ride_driver_arrived_send_on_commit, ride_updated_send_on_commit
from rides.meter import StreamPoint
from rides.models import Ride, RideEndReason, RideStatus, TrackPoint
from rides.selectors import ride_get_for_output

if TYPE_CHECKING:
    from accounts.models import User
    from matching.models import Match, RideRequest


class Actor:
    DRIVER = "driver"
    PASSENGER = "passenger"
    OPERATOR = "operator"
    SYSTEM = "system"  # the stale-ride sweeper (rides/unattended.py)


# The ride's state machine: (from, to) -> who may make that move. Anything else is 409 invalid_ride_state.
TRANSITIONS: dict[tuple[str, str], set[str]] = {
    (RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS): {Actor.DRIVER},
    # The system ends a ride whose driver went silent (rides/unattended.py: reported or abandoned).
    (RideStatus.IN_PROGRESS, RideStatus.COMPLETED): {Actor.DRIVER, Actor.SYSTEM},
    (RideStatus.DRIVER_EN_ROUTE, RideStatus.CANCELLED): {Actor.DRIVER, Actor.PASSENGER, Actor.OPERATOR},
    # An operator may clear a ride stuck in progress (e.g. the driver's phone died); riders cannot.
    (RideStatus.IN_PROGRESS, RideStatus.CANCELLED): {Actor.OPERATOR},
}


def ride_transition_check(*, ride: Ride, to: str, actor: str) -> None:
    if actor not in TRANSITIONS.get((ride.status, to), set()):
        raise RidesException(
            RidesError.INVALID_RIDE_STATE,
            transition_refused_message(ride.status, to),
            details={"status": ride.status, "to": to},
        )


# What each move is called in a refusal ("A completed ride cannot be started.").
_MOVE_WORDS: dict[str, str] = {
    RideStatus.IN_PROGRESS: "started",
    RideStatus.COMPLETED: "ended",
    RideStatus.CANCELLED: "cancelled",
}
_ALREADY: dict[str, str] = {
    RideStatus.IN_PROGRESS: "This ride is already in progress.",
    RideStatus.COMPLETED: "This ride has already ended.",
    RideStatus.CANCELLED: "This ride is already cancelled.",
}


def transition_refused_message(status: str, to: str) -> str:
    """A refused move in words: "This ride is already in progress.", "A completed ride cannot be started."."""
    if status == to:
        return _ALREADY.get(to, f"This ride is already {ride_status_words(to)}.")
    if status == RideStatus.DRIVER_EN_ROUTE and to == RideStatus.COMPLETED:
        return "This ride has not started yet; start it before ending it."
    if status == RideStatus.IN_PROGRESS and to == RideStatus.CANCELLED:
        return "A ride in progress cannot be cancelled; the driver ends it."
    if status == RideStatus.IN_PROGRESS and to == RideStatus.COMPLETED:
        return "Only the ride's driver can end it."
    if status == RideStatus.DRIVER_EN_ROUTE and to == RideStatus.IN_PROGRESS:
        return "Only the ride's driver can start it."
    move = _MOVE_WORDS.get(to, str(to))
    if status == RideStatus.DRIVER_EN_ROUTE:
        return f"This ride cannot be {move} before it starts."
    return f"A {ride_status_words(status)} ride cannot be {move}."


def actor_for(*, ride: Ride, user: "User") -> str:
    return Actor.DRIVER if str(user.pk) == str(ride.driver_id) else Actor.PASSENGER


@transaction.atomic(savepoint=False)  # inside matching's confirm transaction: no savepoint of its own
def ride_create(*, request: "RideRequest", match: "Match", events_before: Iterable[EventItem] = ()) -> Ride:
    """Create the ride for a confirmed match, status `driver_en_route`; emits `ride.updated` to both sides.

    Called by matching inside its confirm transaction with `request` and `match` already locked. Copies the
    pickup, destination, payment method and surge multiplier from the request. The caller only emits
    `match.confirmed` (`events_before`: stored with `ride.updated`, in one statement, before it); this function
    stores and (after the commit) pushes `ride.updated`.
    """
    ride = Ride.objects.create(
        request=request,
        match=match,
        driver_id=match.driver_id,
        passenger_id=request.passenger_id,
        pickup_lat=request.pickup_lat,
        pickup_lng=request.pickup_lng,
        destination_lat=request.destination_lat,
        destination_lng=request.destination_lng,
        payment_method=request.payment_method,
        surge_multiplier=request.surge_multiplier,
    )
    if _people_loaded(match, "driver") and _people_loaded(request, "passenger"):
        ride.driver, ride.passenger = match.driver, request.passenger  # confirm loaded both: no re-read
    else:
        ride = ride_get_for_output(ride.pk)
    ride_updated_send_on_commit(ride, events_before=events_before)
    live_trip.watch_on_commit(ride)
    return ride


def _people_loaded(instance: Any, field: str) -> bool:
    return type(instance)._meta.get_field(field).is_cached(instance)


def _with_people(ride: Ride, *, loaded: Ride | None) -> Ride:
    """`ride` as just written, with the driver and passenger that `loaded` (the same ride, read by the API with its
    people) already carries: its output then needs no second read. Read again when they are not loaded."""
    if loaded is not None and _people_loaded(loaded, "driver") and _people_loaded(loaded, "passenger"):
        ride.driver, ride.passenger = loaded.driver, loaded.passenger
        return ride
    return ride_get_for_output(ride.pk)


def ride_driver_arrived(*, ride_id: UUID | str, at: datetime) -> bool:
    """The driver came within LIVE_TRIP_ARRIVAL_RADIUS_M of the pickup before the start (rides.live_trip): store
    the time once and tell both sides (`ride.driver_arrived`). Returns False when it was stored already or the ride
    is not waiting for its driver any more."""
    with transaction.atomic():
        arrived = Ride.objects.filter(
            pk=ride_id, status=RideStatus.DRIVER_EN_ROUTE, driver_arrived_at__isnull=True
        ).update(driver_arrived_at=at)
        if arrived:
            ride = Ride.objects.only("id", "driver_id", "passenger_id").get(pk=ride_id)
            ride_driver_arrived_send_on_commit(ride=ride, at=at)
    return bool(arrived)


def ride_start(*, ride: Ride, user: "User") -> Ride:
    """The driver starts within RIDE_START_RADIUS_M of the passenger; the track begins at the driver's position.

    The driver's positions are tracked for the ride before the start commits, under the ride's row lock: a Redis
    error refuses the start (503, nothing committed), and every position accepted from then on is in the ride's
    stream (the meter waits for this lock), every earlier one before the track's first point."""
    _require_driver(ride=ride, user=user)
    ride_transition_check(ride=ride, to=RideStatus.IN_PROGRESS, actor=Actor.DRIVER)
    now = timezone.now()
    driver_position = _driver_position_at_start(driver_id=ride.driver_id, now=now)
    _check_close_to_passenger(ride=ride, driver_position=driver_position, now=now)
    with transaction.atomic():
        # The request rides along (the pushed ride names its product); only the ride's row is locked.
        loaded, ride = ride, Ride.objects.select_for_update(of=("self",)).select_related("request").get(pk=ride.pk)
        ride_transition_check(ride=ride, to=RideStatus.IN_PROGRESS, actor=Actor.DRIVER)
        driver_ride_tracking_set(driver_id=ride.driver_id, ride_id=ride.pk)
        driver_position = _latest_driver_position(driver_id=ride.driver_id, checked=driver_position)
        ride.status = RideStatus.IN_PROGRESS
        ride.started_at = now
        ride.track_last_lat, ride.track_last_lng = driver_position.lat, driver_position.lng
        ride.track_last_at = driver_position.recorded_at
        ride.save(update_fields=["status", "started_at", "track_last_lat", "track_last_lng", "track_last_at"])
        TrackPoint.objects.create(
            ride=ride,
            lat=driver_position.lat,
            lng=driver_position.lng,
            recorded_at=driver_position.recorded_at,
            segment_m=0,
        )
        ride = _with_people(ride, loaded=loaded)
        ride_updated_send_on_commit(ride)
        live_trip.watch_on_commit(ride, started=True)
    return ride


def rides_track_append(*, points_by_ride: dict[str, list[StreamPoint]]) -> int:
    """The meter: add accepted driver positions to in-progress rides' tracks; returns how many points counted.

    `points_by_ride` maps a ride id to its points (lat, lng, recorded_at). One transaction for the whole batch:
    the rides' rows locked in id order (so concurrent meter runs cannot deadlock), one bulk INSERT of track
    points, one UPDATE per ride (pipelined). Points of a ride that is not in progress are dropped.
    """
    with transaction.atomic():
        # Locked by id, then filtered: PostgreSQL would skip, without waiting, a start in flight (its committed
        # row is not in progress yet) and drop the points its driver sent right after tracking was turned on.
        rides = [
            ride
            for ride in Ride.objects.select_for_update().filter(pk__in=list(points_by_ride)).order_by("pk")
            if ride.status == RideStatus.IN_PROGRESS
        ]
        changes = [_extend_track(ride=ride, points=points_by_ride[str(ride.pk)]) for ride in rides]
        _track_changes_save(changes)
        _meters_save([ride for ride, change in zip(rides, changes, strict=True) if change.added])
    _refused_count(changes)
    return sum(len(change.added) for change in changes)


def ride_end(*, ride: Ride, user: "User", price_pct: Any = 100) -> Ride:
    """The driver ends the ride: the meter is caught up, the fare frozen, the driver freed, settlement queued."""
    _require_driver(ride=ride, user=user)
    if not fare.is_valid_price_pct(price_pct):
        raise RidesException(
            RidesError.INVALID_PRICE_PCT,
            details={"price_pct": price_pct if isinstance(price_pct, (int, float, str)) else None},
        )
    ride_transition_check(ride=ride, to=RideStatus.COMPLETED, actor=Actor.DRIVER)
    with transaction.atomic():
        request, match, locked = ride_lock_with_request_and_match(
            ride.pk, keys={"request_id": ride.request_id, "match_id": ride.match_id}
        )
        loaded, ride = ride, locked
        ride_transition_check(ride=ride, to=RideStatus.COMPLETED, actor=Actor.DRIVER)
        ride = ride_complete(
            request=request,
            match=match,
            ride=ride,
            price_pct=price_pct,
            end_reason=RideEndReason.DRIVER_ENDED,
            loaded=loaded,
        )
    return ride


def ride_complete(
    *, request: "RideRequest", match: "Match", ride: Ride, price_pct: int, end_reason: str, loaded: Ride | None = None
) -> Ride:
    """Complete an in-progress ride: close the meter (its pending points, then the distance cap), freeze the fare,
    free the driver and the passenger, tell both sides and queue the settlement. The one completion of the driver's
    end and the system's (rides/unattended.py); the caller holds the request, match and ride locks and has checked
    the status. `loaded`: the same ride as the caller read it with its people (spares the output's re-read)."""
    _meter_close(ride)
    lines = ride_fare_lines(ride=ride, request=request)
    frozen = fare.fare_for(metered=lines.metered_fare, price_pct=price_pct)
    ride.status = RideStatus.COMPLETED
    ride.end_reason = end_reason
    ride.ended_at = timezone.now()
    ride.metered_fare, ride.price_pct = frozen.metered_fare, frozen.price_pct
    ride.charged_amount, ride.admin_fee, ride.driver_payout = (
        frozen.charged_amount,
        frozen.admin_fee,
        frozen.driver_payout,
    )
    ride.fare_lines = lines.as_dict()
    ride.save(
        update_fields=[
            "status",
            "end_reason",
            "ended_at",
            "metered_fare",
            "price_pct",
            "charged_amount",
            "admin_fee",
            "driver_payout",
            "fare_lines",
            *METER_CLOSE_FIELDS,
        ]
    )
    _release_request_and_match(request=request, match=match)
    ride = _with_people(ride, loaded=loaded)
    ride_updated_send_on_commit(ride)
    live_trip.unwatch_on_commit(ride)
    _free_driver_on_commit(ride.driver_id)
    _settle_on_commit(ride.pk)
    return ride


def ride_fare_lines(*, ride: Ride, request: "RideRequest") -> fare.FareLines:
    """The itemised metered fare of an ending ride under the fare policy version its request was quoted with, the
    time-of-day window of the request's time, and the waiting past the free window (arrival to start)."""
    from products.selectors import fare_terms_get

    terms = fare_terms_get(policy_id=request.fare_policy_id, product=request.product)
    waited = (
        (ride.started_at - ride.driver_arrived_at).total_seconds()
        if ride.driver_arrived_at is not None and ride.started_at is not None
        else None
    )
    return fare.fare_lines(
        terms=terms,
        distance_m=ride.distance_m,
        surge_multiplier=ride.surge_multiplier,
        at=request.created_at,
        waited_seconds=waited,
    )


def ride_cancel(*, ride: Ride, by: str = Actor.OPERATOR, reason: str = "", no_show: bool = False) -> Ride:
    """Cancel a ride: riders before it is in progress, an operator also a stuck one in progress. Frees the driver.

    The passenger's cancellation after the driver's free waiting window costs a cancellation fee (rides/
    cancellation.py), posted to the ledger in this transaction, once. A driver who cancels before the start backs
    out: no fee, the request goes back to dispatch without them (matching.services.request_back_to_dispatch); a
    no-show (`no_show`, checked by ride_report_no_show) is the driver's cancellation that costs the passenger the
    fee and closes the request."""
    ride_transition_check(ride=ride, to=RideStatus.CANCELLED, actor=by)
    with transaction.atomic():
        request, match, ride = ride_lock_with_request_and_match(ride.pk)
        ride_transition_check(ride=ride, to=RideStatus.CANCELLED, actor=by)
        now = timezone.now()
        ride.status = RideStatus.CANCELLED
        ride.cancelled_by = by
        ride.cancel_reason = (reason or "")[:200]
        ride.cancelled_at = now
        ride.cancellation_fee = (
            cancellation.no_show_fee(product=request.product)
            if no_show
            else cancellation.late_cancellation_fee(
                by=by, driver_arrived_at=ride.driver_arrived_at, now=now, product=request.product
            )
        )
        if no_show:
            ride.no_show_reported_at = now
        ride.save(
            update_fields=[
                "status",
                "cancelled_by",
                "cancel_reason",
                "cancelled_at",
                "cancellation_fee",
                "no_show_reported_at",
            ]
        )
        if ride.cancellation_fee:
            _cancellation_fee_post(ride)
        if by == Actor.DRIVER and not no_show:
            _back_to_dispatch(request=request, match=match)
        else:
            _release_request_and_match(request=request, match=match)
        ride = ride_get_for_output(ride.pk)
        ride.request = request  # the released request, as matching left it: callers need not re-read it
        ride_updated_send_on_commit(ride)
        live_trip.unwatch_on_commit(ride)
        _free_driver_on_commit(ride.driver_id)
    return ride


def ride_cancel_by_user(*, ride: Ride, user: "User", reason: str = "") -> Ride:
    return ride_cancel(ride=ride, by=actor_for(ride=ride, user=user), reason=reason)


def ride_report_no_show(*, ride: Ride, user: "User") -> Ride:
    """The driver waited at the pickup past the free window and the passenger did not come: the ride is cancelled
    (by the driver, reason `no_show`), the passenger owes the cancellation fee, paid to the driver once."""
    _require_driver(ride=ride, user=user)
    ride_transition_check(ride=ride, to=RideStatus.CANCELLED, actor=Actor.DRIVER)
    if ride.driver_arrived_at is None:
        raise RidesException(RidesError.DRIVER_NOT_ARRIVED)
    ends_at = ride.driver_arrived_at + timedelta(seconds=settings.FREE_WAITING_SECONDS)
    if not cancellation.free_waiting_over(driver_arrived_at=ride.driver_arrived_at, now=timezone.now()):
        raise RidesException(RidesError.FREE_WAITING_NOT_OVER, details={"free_waiting_ends_at": ends_at.isoformat()})
    return ride_cancel(ride=ride, by=Actor.DRIVER, reason="no_show", no_show=True)


def _cancellation_fee_post(ride: Ride) -> None:
    # Imported at call time: billing imports rides' models.
    from billing.services import ride_cancellation_fee_post

    ride_cancellation_fee_post(ride=ride)


def _back_to_dispatch(*, request: "RideRequest", match: "Match") -> None:
    """The driver backed out before the start: matching puts the request back into dispatch (its rows, its write)."""
    # Imported at call time: see _lock_request_match_ride.
    from matching.services import request_back_to_dispatch

    request_back_to_dispatch(request=request, match=match)


def _require_driver(*, ride: Ride, user: "User") -> None:
    if str(user.pk) != str(ride.driver_id):
        raise RidesException(RidesError.NOT_THE_DRIVER)


def _driver_position_at_start(*, driver_id: UUID | str, now: datetime) -> LivePosition:
    position = user_last_position(user_id=driver_id)
    max_age = settings.RIDE_DRIVER_POSITION_FRESH_SECONDS
    if position is None or (now - position.recorded_at).total_seconds() > max_age:
        raise RidesException(
            RidesError.DRIVER_POSITION_UNKNOWN,
            f"Send your location first: no position from you in the last {max_age} s.",
            details={"max_age_s": max_age},
        )
    return position


def _latest_driver_position(*, driver_id: UUID | str, checked: LivePosition) -> LivePosition:
    """The driver's latest position now that tracking is on (one accepted since the check is not in the stream),
    or the checked one."""
    latest = user_last_position(user_id=driver_id)
    return latest if latest is not None and latest.recorded_at > checked.recorded_at else checked


def _check_close_to_passenger(*, ride: Ride, driver_position: LivePosition, now: datetime) -> None:
    passenger = user_last_position(user_id=ride.passenger_id)
    fresh = settings.RIDE_PASSENGER_POSITION_FRESH_SECONDS
    if passenger is not None and (now - passenger.recorded_at).total_seconds() <= fresh:
        reference, lat, lng = "passenger_position", passenger.lat, passenger.lng
    else:
        reference, lat, lng = "pickup", ride.pickup_lat, ride.pickup_lng
    distance = haversine_m(driver_position.lat, driver_position.lng, lat, lng)
    if distance > settings.RIDE_START_RADIUS_M:
        raise RidesException(
            RidesError.TOO_FAR_FROM_PASSENGER,
            f"You are {distance:.0f} m from the passenger; start within {settings.RIDE_START_RADIUS_M} m.",
            details={
                "distance_m": round(distance, 1),
                "max_distance_m": settings.RIDE_START_RADIUS_M,
                "reference": reference,
            },
        )


METER_FIELDS = ["distance_m", "track_last_lat", "track_last_lng", "track_last_at"]
METER_CLOSE_FIELDS = [*METER_FIELDS, "distance_capped", "distance_before_cap_m"]


def _meter_close(ride: Ride) -> None:
    """At the end, under the ride's lock: apply the ride's points still pending in Redis, then the hard cap.
    Changes `ride` in memory (METER_CLOSE_FIELDS) for the caller's save."""
    entry_ids, pending = meter.ride_pending_points(ride_id=ride.pk, driver_id=ride.driver_id)
    change = _extend_track(ride=ride, points=pending)
    _track_changes_save([change])
    transaction.on_commit(lambda: meter.entries_discard(ride_id=ride.pk, driver_id=ride.driver_id, entry_ids=entry_ids))
    transaction.on_commit(lambda: _refused_count([change]))
    _distance_cap(ride)


def distance_cap_m(*, ride: Ride) -> float:
    """The most distance a ride's fare may count: METER_MAX_DISTANCE_FACTOR x the straight line from pickup to
    destination, plus METER_DISTANCE_MARGIN_M."""
    straight_m = haversine_m(ride.pickup_lat, ride.pickup_lng, ride.destination_lat, ride.destination_lng)
    return settings.METER_MAX_DISTANCE_FACTOR * straight_m + settings.METER_DISTANCE_MARGIN_M


def _distance_cap(ride: Ride) -> None:
    """Clip a metered distance beyond the cap, keep the metered one, flag the ride and count it (after commit)."""
    cap_m = distance_cap_m(ride=ride)
    if ride.distance_m <= cap_m:
        return
    ride.distance_before_cap_m, ride.distance_m, ride.distance_capped = ride.distance_m, cap_m, True
    transaction.on_commit(RIDE_DISTANCE_CAPPED.inc)


def _refused_count(changes: list["TrackChange"]) -> None:
    refused = sum(change.refused for change in changes)
    if refused:
        METER_POINTS_REFUSED.inc(refused)


@dataclass
class TrackChange:
    added: list = field(default_factory=list)  # new TrackPoints to insert
    resegmented: list = field(default_factory=list)  # stored TrackPoints whose segment_m changed
    refused: int = 0  # points implausible against the ride's track


def _extend_track(*, ride: Ride, points: list[StreamPoint]) -> "TrackChange":
    """Add accepted positions (objects with lat, lng, recorded_at) to the locked in-progress `ride`'s track.

    The track is the ride's points in time order and `distance_m` the sum of its segments. Each point is judged
    against the ride's own last point (durable, unlike Redis' reference): later than it, and an implied speed
    within LOCATION_MAX_SPEED_KMH; an implausible one is refused (not appended), so a fare follows a plausible
    path whatever Redis lost. Points newer than the track's last one (the usual case) are appended with no read;
    an older one (a batch applied late) is merged in by time if plausible against its neighbours, and the
    segments around it recomputed. A point at a time the track already has is a redelivery and is skipped.
    Updates the meter fields of `ride` in memory and returns the TrackChange for the caller to save.
    """
    points = sorted(points, key=lambda p: p.recorded_at)
    if not points:
        return TrackChange()
    if ride.track_last_at is not None and points[0].recorded_at <= ride.track_last_at:
        return _merge_into_track(ride=ride, points=points)
    return _append_to_track(ride=ride, points=points)


# Stored times are rounded to the microsecond (the ingest script compared unrounded ones): this much slack in
# time keeps the meter from refusing a point the script accepted at the speed limit.
_TIME_SLACK_S = 1e-5


def _plausible_move(*, from_point: Any, to_lat: float, to_lng: float, to_at: datetime) -> bool:
    """The ingest script's rule against `from_point` (lat, lng, recorded_at): later, and not too fast."""
    seconds = (to_at - from_point.recorded_at).total_seconds()
    if seconds <= 0:
        return False
    metres = haversine_m(from_point.lat, from_point.lng, to_lat, to_lng)
    return metres <= settings.LOCATION_MAX_SPEED_KMH / 3.6 * (seconds + _TIME_SLACK_S)


def _append_to_track(*, ride: Ride, points: list[StreamPoint]) -> "TrackChange":
    """Points all newer than the track's last one: nothing to read."""
    last = (
        StreamPoint(
            lat=ride.track_last_lat,  # type: ignore[arg-type]  # set together with track_last_at
            lng=ride.track_last_lng,  # type: ignore[arg-type]
            recorded_at=ride.track_last_at,
        )
        if ride.track_last_at is not None
        else None
    )
    change = TrackChange()
    added_m = 0.0
    for point in points:
        if last is not None and point.recorded_at <= last.recorded_at:
            continue  # the same time twice within the batch
        if last is not None and not _plausible_move(
            from_point=last, to_lat=point.lat, to_lng=point.lng, to_at=point.recorded_at
        ):
            change.refused += 1
            continue
        segment = haversine_m(last.lat, last.lng, point.lat, point.lng) if last is not None else 0.0
        change.added.append(
            TrackPoint(ride_id=ride.pk, lat=point.lat, lng=point.lng, recorded_at=point.recorded_at, segment_m=segment)
        )
        added_m += segment
        last = point
    if change.added:
        _meter_advance(ride=ride, added_m=added_m, last=change.added[-1])
    return change


def _merge_into_track(*, ride: Ride, points: list[StreamPoint]) -> "TrackChange":
    """Some points are older than the track's end: rebuild the tail of the track from the earliest of them."""
    track = TrackPoint.objects.filter(ride_id=ride.pk)
    first = track.order_by("recorded_at", "id").first()
    points = [p for p in points if first is None or p.recorded_at > first.recorded_at]  # before the start: not ours
    if not points:
        return TrackChange()
    earliest = points[0].recorded_at
    anchor = track.filter(recorded_at__lt=earliest).order_by("-recorded_at", "-id").first()
    stored = list(track.filter(recorded_at__gte=earliest).order_by("recorded_at", "id"))
    change = _merge_plausible(ride=ride, anchor=anchor, stored=stored, points=points)
    if not change.added:
        return change
    old_tail_m = sum(point.segment_m for point in stored)
    previous = anchor
    for point in sorted(stored + change.added, key=lambda p: p.recorded_at):
        segment = haversine_m(previous.lat, previous.lng, point.lat, point.lng) if previous else 0.0
        if point.pk is not None and point.segment_m != segment:
            change.resegmented.append(point)
        point.segment_m = segment
        previous = point
    new_tail_m = sum(point.segment_m for point in stored + change.added)
    _meter_advance(ride=ride, added_m=new_tail_m - old_tail_m, last=previous)  # type: ignore[arg-type]  # a point
    return change


def _merge_plausible(*, ride: Ride, anchor: Any, stored: list[TrackPoint], points: list[StreamPoint]) -> TrackChange:
    """The new points (by time, none at a stored time) that are plausible between the kept point before each and
    the stored point after it."""
    stored_times = [point.recorded_at for point in stored]
    known_times = set(stored_times)
    change = TrackChange()
    previous = anchor
    for point in points:
        if point.recorded_at in known_times:
            continue
        before = bisect_right(stored_times, point.recorded_at)
        if before and (previous is None or stored[before - 1].recorded_at > previous.recorded_at):
            previous = stored[before - 1]
        following = stored[before] if before < len(stored) else None
        if (
            previous is not None
            and not _plausible_move(from_point=previous, to_lat=point.lat, to_lng=point.lng, to_at=point.recorded_at)
        ) or (
            following is not None
            and not _plausible_move(
                from_point=point, to_lat=following.lat, to_lng=following.lng, to_at=following.recorded_at
            )
        ):
            change.refused += 1
            continue
        known_times.add(point.recorded_at)
        previous = TrackPoint(ride_id=ride.pk, lat=point.lat, lng=point.lng, recorded_at=point.recorded_at)
        change.added.append(previous)
    return change


def _meter_advance(*, ride: Ride, added_m: float, last: StreamPoint | TrackPoint) -> None:
    ride.distance_m += added_m
    ride.track_last_lat, ride.track_last_lng, ride.track_last_at = last.lat, last.lng, last.recorded_at


def _track_changes_save(changes: Iterable["TrackChange"]) -> None:
    TrackPoint.objects.bulk_create([point for change in changes for point in change.added])
    resegmented = [point for change in changes for point in change.resegmented]
    if resegmented:
        TrackPoint.objects.bulk_update(resegmented, ["segment_m"])


def _meters_save(rides: list[Ride]) -> None:
    """One UPDATE per ride, sent as one executemany (pipelined by psycopg); Django's bulk_update builds CASE
    expressions whose Python cost grows with every ride in the batch."""
    if not rides:
        return
    fields = cast("list[Field[Any, Any]]", [Ride._meta.get_field(name) for name in METER_FIELDS])  # concrete fields
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in fields)  # type: ignore[arg-type]
    sql = f"UPDATE {connection.ops.quote_name(Ride._meta.db_table)} SET {assignments} WHERE id = %s"
    rows = [
        [f.get_db_prep_save(getattr(ride, f.attname), connection) for f in fields]
        + [Ride._meta.pk.get_db_prep_value(ride.pk, connection)]
        for ride in rides
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def ride_lock_with_request_and_match(
    ride_id: UUID | str, keys: dict[str, Any] | None = None
) -> tuple["RideRequest", "Match", Ride]:
    """Lock a ride with its request and match, in the lock order request -> match -> ride (matching locks its two
    rows, it owns them), in the caller's transaction; returns (request, match, ride). `keys`: the ride's request_id
    and match_id when the caller has them (they never change), else they are read."""
    # Imported here: matching.services imports this module (confirm creates the ride, cancel cancels it); rides
    # calls back into matching only for the ride's own request and match, at call time.
    from matching.services import request_and_match_lock_for_ride

    if keys is None:
        keys = dict(Ride.objects.filter(pk=ride_id).values("request_id", "match_id").get())
    request, match = request_and_match_lock_for_ride(request_id=keys["request_id"], match_id=keys["match_id"])
    ride = Ride.objects.select_for_update().get(pk=ride_id)
    ride.request, ride.match = request, match  # the rows just locked: the pushed ride reads them without a query
    return request, match, ride


def _release_request_and_match(*, request: "RideRequest", match: "Match") -> None:
    """The ride is over: matching frees the driver's hold and closes the request (its rows, its write)."""
    # Imported at call time: see ride_lock_with_request_and_match.
    from matching.services import request_and_match_release

    request_and_match_release(request=request, match=match)


def _free_driver_on_commit(driver_id: UUID | str) -> None:
    def free() -> None:
        driver_ride_tracking_set(driver_id=driver_id, ride_id=None)
        driver_busy_set(driver_id=driver_id, busy=False)

    transaction.on_commit(free, robust=True)  # a Redis hiccup: locations' sweeper re-derives busy from the database


def _settle_on_commit(ride_id: UUID | str) -> None:
    """delay_on_commit, but a broker outage after the commit is logged, not a 500 for a ride that did end:
    billing's sweeper settles any completed ride left unsettled."""
    transaction.on_commit(lambda: settle_ride.delay(str(ride_id)), robust=True)
