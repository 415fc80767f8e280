"""Writes to the live state: positions, beacons, busy drivers, ride tracking, and the sweep that repairs it.

A location update never touches the database: its only store is Redis (one script call). The database holds
the beacon (DriverPresence) and, through matching and rides, who is busy or on a ride; the sweeper re-derives
the Redis mirrors from it, so a flushed Redis recovers by itself.
"""
import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.errors import AccountsError, AccountsException
from locations import live
from locations.metrics import count_location
from locations.models import DriverPresence
from nebengjek import redis_keys
from nebengjek.realtime import send_event_on_commit
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

BEACON_EVENT = "beacon.updated"


ACCEPTED = "accepted"  # the outcome of a kept position; any other outcome is the reason it was dropped


def position_time(*, recorded_at, accuracy_m):
    """(the position's time in epoch seconds, None), or (None, the drop reason) when the filter drops it without
    asking Redis (counted)."""
    limits = live.config()
    if accuracy_m is not None and accuracy_m > limits.max_accuracy_m:
        count_location("inaccurate")
        return None, "inaccurate"
    now = time.time()
    if recorded_at is None:
        return now, None
    t = recorded_at.timestamp()
    if t > now + limits.future_tolerance_s:
        count_location("future")
        return None, "future"
    return min(t, now), None


def location_outcome(result) -> str:
    """Count the script's result; "accepted" or the reason the position was dropped (live.DROP_REASONS)."""
    outcome = ACCEPTED if result == live.ACCEPTED else live.DROP_REASONS[result]
    count_location(outcome)
    return outcome


def location_ack(outcome: str) -> dict:
    """The answer to a position, REST and socket: {"accepted": true} or {"accepted": false, "reason": ...}."""
    if outcome == ACCEPTED:
        return {"accepted": True}
    return {"accepted": False, "reason": outcome}


def location_record(*, user_id, lat, lng, recorded_at=None, accuracy_m=None) -> str:
    """Record a user's position (sync: REST, commands, tests). Returns "accepted", or why the plausibility filter
    dropped it: inaccurate, future, out_of_order or too_fast.

    Accepted: it becomes the user's latest position; a beacon-on driver moves in the live index; a driver whose
    ride is tracked extends the ride's track (../shared/API.md "Meter").
    """
    t, dropped = position_time(recorded_at=recorded_at, accuracy_m=accuracy_m)
    return dropped or location_outcome(live.ingest(user_id, lat, lng, t))


async def location_record_async(*, user_id, lat, lng, recorded_at=None, accuracy_m=None) -> str:
    """The socket's twin of location_record: batched with other sockets' updates into one Redis round trip."""
    t, dropped = position_time(recorded_at=recorded_at, accuracy_m=accuracy_m)
    return dropped or location_outcome(await live.flusher().submit(user_id, lat, lng, t))


def location_ingest(*, user, lat, lng, recorded_at=None, accuracy_m=None) -> bool:
    """location_record for a user object; True when the position was accepted."""
    return location_record(user_id=user.pk, lat=lat, lng=lng, recorded_at=recorded_at,
                           accuracy_m=accuracy_m) == ACCEPTED


async def location_ingest_async(*, user_id, lat, lng, recorded_at=None, accuracy_m=None) -> bool:
    return await location_record_async(user_id=user_id, lat=lat, lng=lng, recorded_at=recorded_at,
                                       accuracy_m=accuracy_m) == ACCEPTED


def beacon_set(*, user, active):
    """Turn a driver's beacon on or off; returns `active`. A passenger gets 403 not_a_driver.

    The database keeps the beacon (so it survives a Redis flush); Redis mirrors it after the commit. A change is
    pushed to the driver's sockets as `beacon.updated` (other devices, REST callers).
    """
    if not user.is_driver:
        raise AccountsException(AccountsError.NOT_A_DRIVER, "Only drivers have a beacon.")
    with transaction.atomic():
        presence, created = DriverPresence.objects.select_for_update().get_or_create(
            driver_id=user.pk, defaults={"beacon_active": active, "beacon_changed_at": timezone.now()})
        if created or presence.beacon_active != active:
            presence.beacon_active = active
            presence.beacon_changed_at = timezone.now()
            presence.save(update_fields=["beacon_active", "beacon_changed_at"])
            send_event_on_commit([user.pk], BEACON_EVENT, {"active": active})
        transaction.on_commit(lambda: beacon_mirror(driver_id=user.pk, active=active))
    return active


def beacon_mirror(*, driver_id, active):
    """Put the beacon in Redis: on joins the index at the driver's latest position at once (the available index
    unless busy); off leaves it."""
    live.driver_state(driver_id, "beacon", active)


def driver_busy_set(*, driver_id, busy):
    """Mark a driver held (pending proposal, accepted match, live ride) or free. Idempotent; call after commit.
    Busy leaves the available drivers' GEO index; free rejoins it at the latest position, if the beacon is on."""
    live.driver_state(driver_id, "busy", busy)


def driver_ride_tracking_set(*, driver_id, ride_id):
    """While `ride_id` is set, the driver's accepted positions are appended to redis_keys.RIDE_TRACK_STREAM."""
    if ride_id is None:
        get_redis().hdel(redis_keys.DRIVERS_TRACKING, str(driver_id))
    else:
        get_redis().hset(redis_keys.DRIVERS_TRACKING, str(driver_id), str(ride_id))


def live_sweep():
    """Beat task body: drop stale drivers from the index; re-derive beacon, busy (and after a flush, tracking)
    from the database. Returns counts for logs and tests."""
    cutoff = timezone.now().timestamp() - settings.LOCATION_FRESH_SECONDS
    stale = live.script("sweep")(keys=[redis_keys.DRIVERS_GEO, redis_keys.DRIVERS_SEEN,
                                                       redis_keys.DRIVERS_POSITION], args=[repr(cutoff)])
    flushed = not get_redis().exists(redis_keys.LIVE_STATE_MARKER)
    beacon = _set_reconcile(redis_keys.DRIVERS_BEACON, _beacon_on_ids)
    busy = _set_reconcile(redis_keys.DRIVERS_BUSY, _busy_ids)
    _drivers_replace(beacon | busy)
    _busy_out_of_index()
    _set_reconcile(redis_keys.USERS_SUSPENDED, _suspended_ids)
    tracking = _tracking_rebuild() if flushed else 0
    get_redis().set(redis_keys.LIVE_STATE_MARKER, timezone.now().isoformat())
    return {"stale": len(stale), "beacon_fixed": len(beacon), "busy_fixed": len(busy), "tracking_restored": tracking,
            "flushed": flushed}


def _drivers_replace(driver_ids, chunk=1000):
    """Put drivers whose beacon or busy flag the sweeper fixed where the flags now say (in or out of the index)."""
    driver_ids = list(driver_ids)
    for start in range(0, len(driver_ids), chunk):
        pipe = get_redis().pipeline(transaction=False)
        for driver_id in driver_ids[start:start + chunk]:
            live.driver_state(driver_id, client=pipe)
        pipe.execute()


def _busy_out_of_index(chunk=1000):
    """Take every busy driver out of the available drivers' GEO index. Busy set and index change together in one
    script, so this finds nothing unless something wrote one without the other (the release that made the index
    available-only left the busy drivers of that moment in it; the ingest script only skips re-adding them)."""
    busy = list(get_redis().smembers(redis_keys.DRIVERS_BUSY))
    for start in range(0, len(busy), chunk):
        get_redis().zrem(redis_keys.DRIVERS_GEO, *busy[start:start + chunk])


def _beacon_on_ids(ids=None):
    rows = DriverPresence.objects.filter(beacon_active=True)
    if ids is not None:
        rows = rows.filter(driver_id__in=ids)
    return {str(pk) for pk in rows.values_list("driver_id", flat=True)}


def _suspended_ids(ids=None):
    from accounts.models import User

    rows = User.objects.filter(is_active=False)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return {str(pk) for pk in rows.values_list("pk", flat=True)}


def _busy_ids(ids=None):
    from matching.models import Match

    rows = Match.objects.filter(holds_driver=True)
    if ids is not None:
        rows = rows.filter(driver_id__in=ids)
    return {str(pk) for pk in rows.values_list("driver_id", flat=True)}


def _set_reconcile(key, truth):
    """Make the Redis set `key` equal the database's `truth()`; returns the members fixed (added or removed).

    The differences are re-read from the database just before fixing, so a change committed meanwhile wins.
    """
    client = get_redis()
    wanted, present = truth(), client.smembers(key)
    missing, extra = wanted - present, present - wanted
    if missing or extra:
        now_true = truth(missing | extra)
        missing, extra = missing & now_true, extra - now_true
    if missing:
        client.sadd(key, *missing)
    if extra:
        client.srem(key, *extra)
    if missing or extra:
        logger.info("live set repaired", extra={"key": key, "added": len(missing), "removed": len(extra)})
    return missing | extra


def _tracking_rebuild():
    from rides.models import Ride, RideStatus

    live_rides = dict(Ride.objects.filter(status=RideStatus.IN_PROGRESS).values_list("driver_id", "id"))
    if live_rides:
        get_redis().hset(redis_keys.DRIVERS_TRACKING,
                         mapping={str(driver): str(ride) for driver, ride in live_rides.items()})
    return len(live_rides)
