"""Rides whose driver went silent: flagged for operators, reported by the passenger, ended by the system.

The driver's last accepted position is the ride's durable meter point `track_last_at` (the start's position until
the track grows). A ride in progress with no accepted position for RIDE_STALE_AFTER_SECONDS is flagged (`stale_at`);
after RIDE_ABANDON_AFTER_SECONDS of silence it is ended (`abandoned`), or already after the stale time when the
passenger has reported the driver gone (`driver_gone`). Ending is the driver's own completion at price_pct 100
(rides.services.ride_complete: the meter closed on its last plausible points and the distance cap, then fare,
settlement, pushes and the freed passenger alike).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from nebengjek import metrics
from rides.errors import RidesError, RidesException, invalid_ride_state, ride_status_words
from rides.events import ride_updated_send_on_commit
from rides.models import Ride, RideEndReason, RideStatus
from rides.selectors import ride_get_for_output
from rides.services import Actor, ride_complete, ride_lock_with_request_and_match, ride_transition_check

logger = logging.getLogger(__name__)


def ride_last_seen(ride: Ride) -> datetime | None:
    """When the driver's last accepted position of this ride was recorded (the start's, before any other)."""
    return ride.track_last_at or ride.started_at


def ride_unattended_end_reason(*, ride: Ride, now: datetime) -> str | None:
    """Why the system may end this ride now: `driver_gone` (reported, and silent for the stale time), `abandoned`
    (silent for the abandon time), or None (not in progress, or the driver is not silent long enough)."""
    last_seen = ride_last_seen(ride)
    if ride.status != RideStatus.IN_PROGRESS or last_seen is None:
        return None
    silent_s = (now - last_seen).total_seconds()
    if ride.driver_gone_reported_at is not None and silent_s >= settings.RIDE_STALE_AFTER_SECONDS:
        return RideEndReason.DRIVER_GONE
    if silent_s >= settings.RIDE_ABANDON_AFTER_SECONDS:
        return RideEndReason.ABANDONED
    return None


def ride_end_unattended(*, ride_id) -> Ride | None:
    """End a ride whose driver is gone, if it still qualifies under the locks; else None (the driver ended it, or
    a position arrived meanwhile). Safe to run any number of times and concurrently with the driver's end: both
    take the request -> match -> ride locks, and whoever comes second finds the ride no longer in progress."""
    with transaction.atomic():
        request, match, ride = ride_lock_with_request_and_match(ride_id)
        reason = ride_unattended_end_reason(ride=ride, now=timezone.now())
        if reason is None:
            return None
        ride_transition_check(ride=ride, to=RideStatus.COMPLETED, actor=Actor.SYSTEM)
        ride = ride_complete(request=request, match=match, ride=ride, price_pct=100, end_reason=reason)
        transaction.on_commit(lambda: metrics.rides_unattended_ended(reason))
    logger.warning(
        "ride ended by the system: the driver went silent",
        extra={"ride_id": str(ride.pk), "reason": reason, "driver_id": str(ride.driver_id)},
    )
    return ride


def ride_report_driver_gone(*, ride: Ride, user) -> Ride:
    """The passenger says the driver is gone. The first report is recorded and pushed to both sides (and counted for
    operators); a repeat changes nothing. If the driver is already silent for the stale time the ride ends now."""
    if str(user.pk) != str(ride.passenger_id):
        raise RidesException(RidesError.NOT_THE_PASSENGER, "Only the ride's passenger can report this.")
    with transaction.atomic():
        ride = Ride.objects.select_for_update().get(pk=ride.pk)
        if ride.status != RideStatus.IN_PROGRESS:
            raise invalid_ride_state(
                ride.status, f"Only a ride in progress can be reported; this one is {ride_status_words(ride.status)}."
            )
        first_report = ride.driver_gone_reported_at is None
        if first_report:
            ride.driver_gone_reported_at = timezone.now()
            ride.save(update_fields=["driver_gone_reported_at"])
            ride_updated_send_on_commit(ride_get_for_output(ride.pk))
            transaction.on_commit(metrics.driver_gone_reported)
    if first_report:
        logger.warning(
            "driver reported gone by the passenger", extra={"ride_id": str(ride.pk), "driver_id": str(ride.driver_id)}
        )
    return ride_end_unattended(ride_id=ride.pk) or ride_get_for_output(ride.pk)


def rides_unattended_sweep(*, now: datetime | None = None) -> dict:
    """The beat task's work: end the rides that qualify, flag newly silent ones, unflag those whose driver is back.
    Each ride is ended in its own transaction; at most RIDE_UNATTENDED_SWEEP_BATCH per run (the next run carries on)."""
    now = now or timezone.now()
    batch = settings.RIDE_UNATTENDED_SWEEP_BATCH
    stale_before = now - timedelta(seconds=settings.RIDE_STALE_AFTER_SECONDS)
    abandon_before = now - timedelta(seconds=settings.RIDE_ABANDON_AFTER_SECONDS)
    in_progress = Ride.objects.filter(status=RideStatus.IN_PROGRESS)
    due = (
        in_progress.filter(
            _silent_since(abandon_before) | (_silent_since(stale_before) & Q(driver_gone_reported_at__isnull=False))
        )
        .order_by(Coalesce("track_last_at", "started_at"))
        .values_list("pk", flat=True)[:batch]
    )
    ended = sum(1 for ride_id in list(due) if _end_logged(ride_id) is not None)
    newly_silent = list(
        in_progress.filter(_silent_since(stale_before), stale_at__isnull=True).values_list("pk", flat=True)[:batch]
    )
    # The conditions again in the UPDATE itself: PostgreSQL re-checks them on a row a meter run just moved on.
    flagged = in_progress.filter(_silent_since(stale_before), pk__in=newly_silent, stale_at__isnull=True).update(
        stale_at=now
    )
    cleared = in_progress.filter(~_silent_since(stale_before), stale_at__isnull=False).update(stale_at=None)
    metrics.RIDES_STALE.set(in_progress.filter(stale_at__isnull=False).count())
    return {"ended": ended, "flagged": flagged, "cleared": cleared}


def _silent_since(moment: datetime) -> Q:
    """Rides whose last accepted driver position is at or before `moment`."""
    return Q(track_last_at__lte=moment) | Q(track_last_at__isnull=True, started_at__lte=moment)


def _end_logged(ride_id) -> Ride | None:
    try:
        return ride_end_unattended(ride_id=ride_id)
    except Exception:  # one bad ride must not hold back the others; the next run tries it again
        logger.exception("could not end an unattended ride", extra={"ride_id": str(ride_id)})
        return None
