"""The meter's Redis side: each ride's stream of accepted driver positions (written by locations) into its track.

Locations' ingest script XADDs each accepted position of a driver on a ride to that ride's own stream
(redis_keys.RIDE_TRACK_STREAM, fields lat, lng, t) and adds the ride to RIDE_TRACK_PENDING, both in the driver's
bucket of the live state. `track_ingest` (a beat task, every second) walks every bucket's pending rides (one
pipelined SSCAN per bucket), reads a page of their streams in one pipelined round trip, applies it
in one short transaction (rides.services.rides_track_append), then deletes the applied entries and forgets a ride
whose stream is empty (one script per ride, atomic against the ingest script's XADD + SADD). Entries are deleted
only after the commit, so a worker dying mid-batch loses nothing: the next run applies them again, and applying is
idempotent (a point at a time the track already has is skipped), so nothing counts twice.

At the end, `ride_pending_points` reads that one ride's stream (normally about a second of traffic).
A stream is found by its ride and the ride's driver (whose bucket holds it).
"""

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis
from django.conf import settings

from locations.live import BucketKeys, all_buckets, keys_of
from nebengjek.redis import get_live_redis

logger = logging.getLogger(__name__)

READ_CHUNK = 5000  # entries per XRANGE when the end reads a whole stream

# KEYS: a ride's stream, the pending rides set.  ARGV: the ride id, then the ids of entries applied.
# Deletes those entries; a stream left empty is deleted and its ride leaves the set. Returns 1 when it did.
_APPLIED_LUA = """
for i = 2, #ARGV, 1000 do
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
_APPLIED_SHA = hashlib.sha1(_APPLIED_LUA.encode()).hexdigest()


@dataclass(frozen=True)
class StreamPoint:
    lat: float
    lng: float
    recorded_at: datetime


def ride_stream_key(ride_id, driver_id) -> str:
    return keys_of(driver_id).track_stream(ride_id)


def track_ingest(*, budget_seconds=None) -> int:
    """Apply the pending rides' streams, a page of rides at a time, until none is pending or the budget is spent.
    Returns the points that counted."""
    from rides.services import rides_track_append

    client = get_live_redis()
    deadline = time.monotonic() + (
        budget_seconds if budget_seconds is not None else settings.RIDE_TRACK_INGEST_BUDGET_SECONDS
    )
    page_size, applied = settings.RIDE_TRACK_INGEST_RIDES, 0
    while True:
        another_pass = False
        cursors = {keys.bucket: (keys, 0) for keys in all_buckets()}
        while cursors:
            cursors, pending = _pending_scan(client, cursors)
            for start in range(0, len(pending), page_size):
                entries = _streams_read(client, pending[start : start + page_size])
                applied += _apply_and_delete(client, entries, rides_track_append)
                another_pass |= any(len(page) >= settings.RIDE_TRACK_INGEST_BATCH for page in entries.values())
                if time.monotonic() >= deadline:
                    return applied
            if time.monotonic() >= deadline:
                return applied
        if not another_pass:
            return applied  # else a stream held more than a page: go round again


def _pending_scan(client, cursors: dict) -> tuple[dict, list[tuple[BucketKeys, str]]]:
    """One SSCAN step of each bucket's pending set still being walked, pipelined: (the buckets not done with their
    next cursors, the (bucket, ride id) found)."""
    pipe = client.pipeline(transaction=False)
    for keys, cursor in cursors.values():
        pipe.sscan(keys.pending, cursor, count=settings.RIDE_TRACK_INGEST_RIDES)
    left, found = {}, []
    for (keys, _), (cursor, ride_ids) in zip(cursors.values(), pipe.execute(), strict=True):
        if cursor:
            left[keys.bucket] = (keys, cursor)
        found += [(keys, ride_id) for ride_id in ride_ids]
    return left, found


def ride_pending_points(*, ride_id, driver_id) -> tuple[list[str], list[StreamPoint]]:
    """This ride's points still in its stream (not applied yet, or being applied by a worker), in stream order,
    with their entry ids (for `entries_discard` once they are applied)."""
    client = get_live_redis()
    key = ride_stream_key(ride_id, driver_id)
    entry_ids: list[str] = []
    points: list[StreamPoint] = []
    start = "-"
    while True:
        chunk = cast(list[tuple[str, dict[str, str]]], client.xrange(key, min=start, max="+", count=READ_CHUNK))
        for entry_id, fields in chunk:
            entry_ids.append(entry_id)
            point = _parse(fields)
            if point is not None:
                points.append(point)
        if len(chunk) < READ_CHUNK:
            return entry_ids, points
        start = "(" + chunk[-1][0]


def entries_discard(*, ride_id, driver_id, entry_ids) -> None:
    """Delete a ride's entries applied another way (at its end); a worker still holding some deletes them as
    already-applied later."""
    _applied(keys_of(driver_id), ride_id, entry_ids, client=get_live_redis())


def _streams_read(client, rides: list[tuple[BucketKeys, str]]) -> dict[tuple[BucketKeys, str], list]:
    """A page of each ride's stream, in one round trip: (bucket, ride id) -> [(entry id, fields)]."""
    pipe = client.pipeline(transaction=False)
    for keys, ride_id in rides:
        pipe.xrange(keys.track_stream(ride_id), count=settings.RIDE_TRACK_INGEST_BATCH)
    return dict(zip(rides, pipe.execute(), strict=True))


def _apply_and_delete(client, entries: dict[tuple[BucketKeys, str], list], apply) -> int:
    """Apply a page of several rides (one transaction), then delete what was applied, ride by ride."""
    by_ride = {}
    for (_, ride_id), page in entries.items():
        points = [point for point in (_parse(fields) for _, fields in page) if point is not None]
        canonical = _canonical(ride_id)
        if points and canonical is not None:  # a malformed entry or ride id: nothing to apply, deleted below
            by_ride[canonical] = points
    applied = apply(points_by_ride=by_ride) if by_ride else 0
    client.script_load(_APPLIED_LUA)  # the pipeline's EVALSHAs find it (a restart or a failover may have lost it)
    pipe = client.pipeline(transaction=False)
    for (keys, ride_id), page in entries.items():
        _applied(keys, ride_id, [entry_id for entry_id, _ in page], client=pipe)
    pipe.execute()
    return applied


def _applied(keys: BucketKeys, ride_id, entry_ids: list[str], *, client) -> int:
    """Run _APPLIED_LUA for one ride on `client` (a client or a pipeline: always given, so that a test pointing
    the live state elsewhere is followed). A pipeline's caller loads the script first."""
    command = ("EVALSHA", _APPLIED_SHA, 2, keys.track_stream(ride_id), keys.pending, str(ride_id), *entry_ids)
    try:
        return client.execute_command(*command)
    except redis.exceptions.NoScriptError:
        client.script_load(_APPLIED_LUA)
        return client.execute_command(*command)


def _canonical(ride_id) -> str | None:
    try:
        return str(uuid.UUID(str(ride_id)))
    except ValueError:
        logger.warning("dropping track entries of a malformed ride id", extra={"ride_id": ride_id})
        return None


def _parse(fields: dict) -> StreamPoint | None:
    try:
        recorded_at = datetime.fromtimestamp(round(float(fields["t"]), 6), tz=UTC)
        return StreamPoint(lat=float(fields["lat"]), lng=float(fields["lng"]), recorded_at=recorded_at)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        logger.warning("dropping malformed track entry", extra={"fields": fields})
        return None
