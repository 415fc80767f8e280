"""Writes to the live state: positions, beacons, busy drivers, ride tracking, and the sweep that repairs it.

A location update never touches the database: its only store is Redis (one script call). The database holds
the beacon (DriverPresence) and, through matching and rides, who is busy or on a ride; the sweeper re-derives
the Redis mirrors from it, so a flushed Redis recovers by itself. What other domains own is read through
locations.sources, which the edge app wires: nothing here imports a domain above locations.
"""

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from locations import events, live
from locations.errors import LocationsError, LocationsException
from locations.metrics import count_location
from locations.models import DriverPresence
from locations.sources import live_sources
from nebengjek import redis_keys
from nebengjek.redis import get_live_redis, get_redis

logger = logging.getLogger(__name__)

ACCEPTED = "accepted"  # the outcome of a kept position; any other outcome is the reason it was dropped


def position_time(*, recorded_at: datetime | None, accuracy_m: float | None) -> tuple[float | None, str | None]:
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


def location_outcome(result: int) -> str:
    """Count the script's result; "accepted" or the reason the position was dropped (live.DROP_REASONS)."""
    outcome = ACCEPTED if result == live.ACCEPTED else live.DROP_REASONS[result]
    count_location(outcome)
    return outcome


def location_ack(outcome: str) -> dict[str, Any]:
    """The answer to a position, REST and socket: {"accepted": true} or {"accepted": false, "reason": ...}."""
    if outcome == ACCEPTED:
        return {"accepted": True}
    return {"accepted": False, "reason": outcome}


def location_record(
    *, user_id: UUID | str, lat: float, lng: float, recorded_at: datetime | None = None, accuracy_m: float | None = None
) -> str:
    """Record a user's position (sync: REST, commands, tests). Returns "accepted", or why the plausibility filter
    dropped it: inaccurate, future, out_of_order or too_fast.

    Accepted: it becomes the user's latest position; a beacon-on driver moves in the live index; a driver whose
    ride is tracked extends the ride's track (../shared/API.md "Meter").
    """
    t, dropped = position_time(recorded_at=recorded_at, accuracy_m=accuracy_m)
    if dropped:
        return dropped
    result = live.ingest(user_id, lat, lng, t)
    if type(result) is not list and result in live.RESTORE_FIRST:  # rare: the only database read on this path
        result = _restored_then_ingested(user_id, lat, lng, t, result)  # type: ignore[arg-type]  # t: not dropped
    if type(result) is list:  # a watched driver's position: the live trip's push or arrival is due
        result = _live_trip_hit(result, lat, lng, t)  # type: ignore[arg-type]  # t: not dropped
    return location_outcome(result)


def _live_trip_hit(result: list, lat: float, lng: float, t: float) -> int:
    live_sources().live_trip_hit(result, lat=lat, lng=lng, t=t)
    return live.ACCEPTED


def _live_trip_hit_async(result: list, lat: float, lng: float, t: float) -> int:
    live_sources().live_trip_hit_async(result, lat=lat, lng=lng, t=t)
    return live.ACCEPTED


def _restored_then_ingested(user_id: UUID | str, lat: float, lng: float, t: float, result: int) -> int | list:
    """Restore what the script asked for, then send the position again (at most _RESTORES_PER_UPDATE times)."""
    outcome: int | list = result
    for _ in range(_RESTORES_PER_UPDATE):
        live_reference_restore(user_id=user_id, result=result)
        outcome = live.ingest(user_id, lat, lng, t)
        if isinstance(outcome, list) or outcome not in live.RESTORE_FIRST:
            break
        result = outcome
    return outcome


async def location_record_async(
    *, user_id: UUID | str, lat: float, lng: float, recorded_at: datetime | None = None, accuracy_m: float | None = None
) -> str:
    """The socket's twin of location_record: batched with other sockets' updates into one Redis round trip."""
    t, dropped = position_time(recorded_at=recorded_at, accuracy_m=accuracy_m)
    if dropped:
        return dropped
    result = await live.flusher().submit(user_id, lat, lng, t)
    if type(result) is not list and result in live.RESTORE_FIRST:  # rare: the only database read on this path
        result = await _restored_then_ingested_async(user_id, lat, lng, t, result)  # type: ignore[arg-type]  # t: set
    if type(result) is list:  # queued for the batched push, never awaited here
        result = _live_trip_hit_async(result, lat, lng, t)  # type: ignore[arg-type]  # t: set
    return location_outcome(result)


async def _restored_then_ingested_async(
    user_id: UUID | str, lat: float, lng: float, t: float, result: int
) -> int | list:
    """Restore what the script asked for, then send the position again (at most _RESTORES_PER_UPDATE times)."""
    outcome: int | list = result
    for _ in range(_RESTORES_PER_UPDATE):
        await _live_reference_restore_async(user_id=user_id, result=result)
        outcome = await live.flusher().submit(user_id, lat, lng, t)
        if isinstance(outcome, list) or outcome not in live.RESTORE_FIRST:
            break
        result = outcome
    return outcome


# The state first (a flush), then the driver's own reference (a race with a start or an end); then it is dropped.
_RESTORES_PER_UPDATE = 2


def live_reference_restore(*, user_id: UUID | str, result: int) -> None:
    """What the ingest script needs before it can judge a position (`result`, one of live.RESTORE_FIRST)."""
    if result == live.STATE_LOST:
        live_state_restore()
    else:
        driver_reference_restore(driver_id=user_id)


# event loop -> its state restore in flight (or done)
_state_restores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[int]] = weakref.WeakKeyDictionary()


async def _live_reference_restore_async(*, user_id: UUID | str, result: int) -> None:
    """live_reference_restore off the event loop. After a flush every socket's next update finds the state lost:
    the sockets of one process share one restore in flight instead of each reading the database."""
    if result != live.STATE_LOST:
        await database_sync_to_async(driver_reference_restore)(driver_id=user_id)
        return
    loop = asyncio.get_running_loop()
    restore = _state_restores.get(loop)
    if restore is None or restore.done():
        restore = _state_restores[loop] = loop.create_task(database_sync_to_async(live_state_restore)())
    await asyncio.shield(restore)


def live_state_restore() -> int:
    """Redis lost its live state (the marker is missing: flushed, or restarted empty). From the database: track
    every in-progress ride's driver again and seed each one's last position (where missing) from the ride's
    durable last point; then set the marker. Returns the rides restored. It only adds: an end racing it leaves a
    stale entry that the sweeper removes (positions for an ended ride are not metered)."""
    references = live_sources().meter_references_in_progress()
    client = get_live_redis()
    for start in range(0, len(references), _RESTORE_CHUNK):
        chunk = references[start : start + _RESTORE_CHUNK]
        live.hash_set_many(client, "tracking", {r.driver_id: r.ride_id for r in chunk})
        _raise_any(
            live.run([live.reference_seed_call(r.driver_id, r.lat, r.lng, r.recorded_at.timestamp()) for r in chunk])
        )
    rebuilt = timezone.now().isoformat()  # last: ingests judge again from here
    live.per_bucket(client, lambda pipe, keys: pipe.set(keys.marker, rebuilt))
    if references:
        logger.warning("live state restored after a Redis loss", extra={"rides": len(references)})
    return len(references)


_RESTORE_CHUNK = 1000


def driver_reference_restore(*, driver_id: UUID | str) -> None:
    """A driver on a ride has no previous position in Redis (it expired after an hour of silence, or was lost):
    seed it from the ride's durable last accepted point, so the next position is judged against that. A tracking
    entry whose ride is not in progress any more is removed instead (the position then is not metered)."""
    ride_id = get_live_redis().hget(live.keys_of(driver_id).tracking, str(driver_id))
    if ride_id is None:
        return
    with transaction.atomic():
        reference = live_sources().meter_reference(ride_id=ride_id, driver_id=driver_id)  # waits for a start in flight
        if reference is None:
            live.tracking_clear_if(driver_id, ride_id)
        else:
            live.reference_seed(driver_id, reference.lat, reference.lng, reference.recorded_at.timestamp())


def location_ingest(
    *, user: Any, lat: float, lng: float, recorded_at: datetime | None = None, accuracy_m: float | None = None
) -> bool:
    """location_record for a user object; True when the position was accepted."""
    return (
        location_record(user_id=user.pk, lat=lat, lng=lng, recorded_at=recorded_at, accuracy_m=accuracy_m) == ACCEPTED
    )


def beacon_set(*, user: Any, active: bool) -> bool:
    """Turn a driver's beacon on or off; returns `active`. A passenger gets 403 not_a_driver; turning it on needs a
    verified driver (403 driver_not_verified), off is always allowed.

    The database keeps the beacon (so it survives a Redis flush); Redis mirrors it after the commit. A change is
    pushed to the driver's sockets as `beacon.updated` (other devices, REST callers).
    """
    if not user.is_driver:
        raise LocationsException(LocationsError.NOT_A_DRIVER, "Only drivers have a beacon.")
    with transaction.atomic():
        if active and not live_sources().driver_is_verified(user_id=user.pk, lock=True):
            raise LocationsException(LocationsError.DRIVER_NOT_VERIFIED)
        presence, created = DriverPresence.objects.select_for_update().get_or_create(
            driver_id=user.pk, defaults={"beacon_active": active, "beacon_changed_at": timezone.now()}
        )
        if created or presence.beacon_active != active:
            presence.beacon_active = active
            presence.beacon_changed_at = timezone.now()
            presence.save(update_fields=["beacon_active", "beacon_changed_at"])
            events.beacon_updated_send_on_commit(driver_id=user.pk, active=active)
        vehicle_type = live_sources().driver_vehicle_types(driver_ids=[user.pk]).get(str(user.pk)) if active else None
        transaction.on_commit(lambda: beacon_mirror(driver_id=user.pk, active=active, vehicle_type=vehicle_type))
    return active


def beacon_mirror(*, driver_id: UUID | str, active: bool, vehicle_type: str | None = None) -> None:
    """Put the beacon in Redis: on joins the index at the driver's latest position at once (the available index
    unless busy), with the driver's vehicle type first (the product filter); off leaves it."""
    if active and vehicle_type:
        live.driver_vehicle_set(driver_id, vehicle_type)
    live.driver_state(driver_id, "beacon", active)


def driver_busy_set(*, driver_id: UUID | str, busy: bool) -> None:
    """Mark a driver held (pending proposal, accepted match, live ride) or free. Idempotent; call after commit.
    Busy leaves the available drivers' GEO index; free rejoins it at the latest position, if the beacon is on."""
    live.driver_state(driver_id, "busy", busy)


def driver_ride_tracking_set(*, driver_id: UUID | str, ride_id: UUID | str | None) -> None:
    """While `ride_id` is set, the driver's accepted positions are appended to that ride's
    redis_keys.RIDE_TRACK_STREAM. Raises on a Redis error (rides' start refuses then)."""
    tracking = live.keys_of(driver_id).tracking
    if ride_id is None:
        get_live_redis().hdel(tracking, str(driver_id))
    else:
        get_live_redis().hset(tracking, str(driver_id), str(ride_id))


def live_sweep() -> dict[str, int]:
    """Beat task body: drop stale drivers from the index; re-derive beacon, busy and the rides' tracking from the
    database (after a flush, the drivers' last positions on a ride too); check a slice of the regions for ghosts.
    Every bucket's state is read pipelined (one round trip per node). Returns counts for logs and tests."""
    cutoff = timezone.now().timestamp() - settings.LOCATION_FRESH_SECONDS
    client = get_live_redis()
    stale = _regions_leave(
        live.run([live.Call("sweep", [k.seen, k.position, k.region], [repr(cutoff)]) for k in live.all_buckets()])
    )
    flushed = not all(live.per_bucket(client, lambda pipe, keys: pipe.exists(keys.marker)))
    tracking = live_state_restore() if flushed else 0
    beacon = _bucket_set_reconcile("beacon", _beacon_on_ids)
    busy = _bucket_set_reconcile("busy", _busy_ids)
    _drivers_replace(beacon | busy)
    _regions_leave(live.run([live.Call("busy_out", [k.busy, k.region], []) for k in live.all_buckets()]))
    ghosts, regions_checked = _region_ghosts_remove()
    _set_reconcile(redis_keys.USERS_SUSPENDED, _suspended_ids, client=get_redis())
    tracking_fixed = _tracking_reconcile()
    watched_fixed = _watched_reconcile()
    arrivals = live_sources().arrivals_repair()
    _vehicles_reconcile()
    return {
        "stale": len(stale),
        "beacon_fixed": len(beacon),
        "busy_fixed": len(busy),
        "tracking_restored": tracking,
        "tracking_fixed": tracking_fixed,
        "watched_fixed": watched_fixed,
        "arrivals_recorded": arrivals,
        "flushed": flushed,
        "ghosts": ghosts,
        "regions_checked": regions_checked,
    }


def _watched_reconcile() -> int:
    """The live trip's watch list (which drivers' positions reach which passenger) from the database."""
    return live_sources().watched_reconcile()


def _vehicles_reconcile(chunk: int = 1000) -> int:
    """Mirror the vehicle type of every beacon-on driver missing from (or wrong in) drivers:vehicle; returns how
    many were fixed."""
    client = get_live_redis()
    wanted = live_sources().driver_vehicle_types(driver_ids=_beacon_on_ids())
    ids = list(wanted)
    fixed = 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        present = live.hash_get_many(client, "vehicle", part)
        wrong: dict[Any, Any] = {
            driver_id: wanted[driver_id]
            for driver_id, have in zip(part, present, strict=True)
            if have != wanted[driver_id]
        }
        if wrong:
            live.hash_set_many(client, "vehicle", wrong)
            fixed += len(wrong)
    return fixed


def _drivers_replace(driver_ids: Iterable[str], chunk: int = 1000) -> None:
    """Put drivers whose beacon or busy flag the sweeper fixed where the flags now say (in or out of the index)."""
    driver_ids = list(driver_ids)
    for start in range(0, len(driver_ids), chunk):
        live.driver_states(driver_ids[start : start + chunk])


def _raise_any(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result


def _regions_leave(found: list[Any]) -> list[str]:
    """Take drivers out of the regions the state scripts of the buckets named ([{ids, regions}], '' = none);
    returns the ids."""
    _raise_any(found)
    ids = [driver_id for part in found for driver_id in part[0]]
    regions = [region for part in found for region in part[1]]
    live.region_steps_run(
        [
            step
            for driver_id, region in zip(ids, regions, strict=True)
            for step in live.region_steps(driver_id, "", region, "", "", "")
        ]
    )
    return ids


def _region_ghosts_remove(chunk: int = 200) -> tuple[int, int]:
    """Take out of the next LIVE_SWEEP_REGIONS_PER_RUN regions (a cursor in Redis walks every region ever indexed,
    a pass in about regions / that many runs) the drivers the region map does not place there (a region step that
    failed, a busy driver's late placement): each only if its entry is still the one read, so a driver placed there
    again meanwhile stays. One round trip per node for `chunk` regions. Returns (removed, regions checked)."""
    client = get_live_redis()
    regions, removed = _regions_next(client), 0
    for start in range(0, len(regions), chunk):
        part = regions[start : start + chunk]
        pipe = client.pipeline(transaction=False)
        for region in part:
            pipe.hgetall(live.region_keys(region)[1])
        entries = [
            (region, driver_id, position)
            for region, members in zip(part, pipe.execute(), strict=True)
            for driver_id, position in members.items()
        ]
        if not entries:
            continue
        placed = live.hash_get_many(client, "region", [driver_id for _, driver_id, _ in entries])
        drops = [
            live.Call("cell_drop", live.region_keys(region), [driver_id, position])
            for (region, driver_id, position), where in zip(entries, placed, strict=True)
            if where != region
        ]
        if drops:
            removed += sum(result == 1 for result in live.run(drops))
    if removed:
        logger.info("live region ghosts removed", extra={"removed": removed})
    return removed, len(regions)


def _regions_next(client: Any) -> list[str]:
    """The regions this run checks: first every bucket's newly indexed regions join the list of all regions (a
    ZSET walked in lexical order), then the next LIVE_SWEEP_REGIONS_PER_RUN after the cursor; a short slice ends the
    pass and the cursor starts again."""
    fresh = live.per_bucket(client, lambda pipe, keys: pipe.smembers(keys.regions))
    new = set().union(*fresh)
    if new:
        client.zadd(redis_keys.DRIVERS_REGIONS_ALL, dict.fromkeys(new, 0))
        # only what was read leaves a bucket's set (a region added meanwhile stays for the next run)
        live.per_bucket(client, lambda pipe, keys: pipe.srem(keys.regions, *(fresh[keys.bucket] or [""])))
    count = settings.LIVE_SWEEP_REGIONS_PER_RUN
    after = client.get(redis_keys.LIVE_SWEEP_CURSOR) or ""
    regions = cast(
        list[str],
        client.zrangebylex(redis_keys.DRIVERS_REGIONS_ALL, f"({after}" if after else "-", "+", start=0, num=count),
    )
    client.set(redis_keys.LIVE_SWEEP_CURSOR, regions[-1] if len(regions) == count else "")
    return regions


def _beacon_on_ids(ids: Iterable[Any] | None = None) -> set[str]:
    rows = DriverPresence.objects.filter(beacon_active=True)
    if ids is not None:
        rows = rows.filter(driver_id__in=ids)
    return {str(pk) for pk in rows.values_list("driver_id", flat=True)}


def _suspended_ids(ids: Iterable[Any] | None = None) -> set[str]:
    rows = get_user_model().objects.filter(is_active=False)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return {str(pk) for pk in rows.values_list("pk", flat=True)}


def _busy_ids(ids: Iterable[Any] | None = None) -> set[str]:
    return live_sources().held_driver_ids(ids)


def _set_reconcile(key: str, truth: Callable[..., set[str]], client: Any = None) -> set[str]:
    """Make the Redis set `key` (on the live-state Redis, or `client`) equal the database's `truth()`; returns the
    members fixed (added or removed)."""
    client = client if client is not None else get_live_redis()
    return _members_reconcile(
        key,
        cast(set[str], client.smembers(key)),  # decode_responses: str members
        truth,
        add=lambda members: client.sadd(key, *members),
        remove=lambda members: client.srem(key, *members),
    )


def _bucket_set_reconcile(field: str, truth: Callable[..., set[str]]) -> set[str]:
    """_set_reconcile for a set kept per bucket (live.BucketKeys attribute `field`: 'beacon' or 'busy')."""
    client = get_live_redis()
    return _members_reconcile(
        field,
        live.set_members_all(client, field),
        truth,
        add=lambda members: live.bucket_writes(client, lambda p, k, ids: p.sadd(getattr(k, field), *ids), members),
        remove=lambda members: live.bucket_writes(client, lambda p, k, ids: p.srem(getattr(k, field), *ids), members),
    )


def _members_reconcile(
    name: str,
    present: set[str],
    truth: Callable[..., set[str]],
    *,
    add: Callable[[set[str]], Any],
    remove: Callable[[set[str]], Any],
) -> set[str]:
    """Fix `present` towards the database's `truth()`. The differences are re-read from the database just before
    fixing, so a change committed meanwhile wins. Returns the members fixed."""
    wanted = truth()
    missing, extra = wanted - present, present - wanted
    if missing or extra:
        now_true = truth(missing | extra)
        missing, extra = missing & now_true, extra - now_true
    if missing:
        add(missing)
    if extra:
        remove(extra)
    if missing or extra:
        logger.info("live set repaired", extra={"key": name, "added": len(missing), "removed": len(extra)})
    return missing | extra


def _tracking_reconcile() -> int:
    """Make the tracking hash say what the database says, on every run: each in-progress ride's driver tracked
    for that ride, nobody else. Returns the drivers fixed. Each difference is decided again under the rides' row
    locks, so a start in flight (it turns tracking on under its lock, before its commit) is never undone."""
    tracking_wanted = live_sources().tracking_wanted
    client = get_live_redis()
    wanted, present = tracking_wanted(), cast(dict[str, str], live.hash_get_all(client, "tracking"))
    drivers = {driver for driver, ride in wanted.items() if present.get(driver) != ride}
    drivers |= present.keys() - wanted.keys()
    if not drivers:
        return 0
    rides = {wanted[d] for d in drivers if d in wanted} | {present[d] for d in drivers if d in present}
    with transaction.atomic():
        now_wanted = tracking_wanted(lock_ride_ids=rides)
        tracked = {driver: now_wanted[driver] for driver in drivers if driver in now_wanted}
        if tracked:
            live.hash_set_many(client, "tracking", tracked)
        live.run(
            [
                live.tracking_clear_if_call(driver, present[driver])
                for driver in drivers
                if driver not in now_wanted and driver in present
            ]
        )
    logger.info("ride tracking repaired", extra={"drivers": len(drivers)})
    return len(drivers)
