"""The meter's Redis side: the stream of accepted driver positions (written by locations) into the rides' tracks.

Locations XADDs each accepted position of a driver on a ride to `RIDE_TRACK_STREAM` (fields ride_id, lat, lng, t).
`track_ingest` (a beat task, every second) reads it through a consumer group, so each entry goes to one worker;
it applies each batch in one short transaction (rides.services.rides_track_append), then XACKs and deletes the
entries. Entries left pending by a dead worker are claimed with XAUTOCLAIM. Applying is idempotent (a point at a
time the track already has is skipped), so an entry delivered twice never counts twice; a batch applied after a
later one is merged into the track in time order.

Because applied entries are deleted, the stream holds only what is not applied yet: at ride end
`ride_pending_points` scans it for that one ride (normally about a second of traffic).
"""
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings

from nebengjek import redis_keys
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

SCAN_CHUNK = 5000


@dataclass(frozen=True)
class StreamPoint:
    lat: float
    lng: float
    recorded_at: datetime


def track_ingest(*, budget_seconds=None):
    """Apply what the stream holds (reclaimed, then new entries) until it is empty or the budget is spent."""
    from rides.services import rides_track_append

    client = get_redis()
    _ensure_group(client)
    consumer = _consumer_name()
    deadline = time.monotonic() + (budget_seconds if budget_seconds is not None
                                   else settings.RIDE_TRACK_INGEST_BUDGET_SECONDS)
    entries = _reclaim_stale(client, consumer)
    applied = _apply_and_ack(client, entries, rides_track_append)
    while time.monotonic() < deadline:
        entries = _read_new(client, consumer)
        if not entries:
            break
        applied += _apply_and_ack(client, entries, rides_track_append)
        if len(entries) < settings.RIDE_TRACK_INGEST_BATCH:
            break
    _forget_idle_consumers(client)
    return applied


def ride_pending_points(*, ride_id):
    """This ride's points still in the stream (not applied yet, or in flight at another worker), in stream order,
    with their entry ids (for `entries_discard` once they are applied)."""
    client = get_redis()
    wanted = str(ride_id)
    entry_ids, points = [], []
    start = "-"
    while True:
        chunk = client.xrange(redis_keys.RIDE_TRACK_STREAM, min=start, max="+", count=SCAN_CHUNK)
        for entry_id, fields in chunk:
            if fields.get("ride_id") == wanted:
                entry_ids.append(entry_id)
                point = _parse(fields)
                if point is not None:
                    points.append(point)
        if len(chunk) < SCAN_CHUNK:
            return entry_ids, points
        start = "(" + chunk[-1][0]


def entries_discard(entry_ids):
    """Delete entries already applied another way (a worker still holding one acks it as a no-op later)."""
    if entry_ids:
        get_redis().xdel(redis_keys.RIDE_TRACK_STREAM, *entry_ids)


def _ensure_group(client):
    try:
        client.xgroup_create(redis_keys.RIDE_TRACK_STREAM, redis_keys.RIDE_TRACK_GROUP, id="0", mkstream=True)
    except redis.ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _consumer_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def _read_new(client, consumer):
    response = client.xreadgroup(redis_keys.RIDE_TRACK_GROUP, consumer, {redis_keys.RIDE_TRACK_STREAM: ">"},
                                 count=settings.RIDE_TRACK_INGEST_BATCH)
    return response[0][1] if response else []


def _reclaim_stale(client, consumer):
    """Entries a dead consumer read but never acked (deleted ones come back with no fields: acked as dropped)."""
    response = client.xautoclaim(redis_keys.RIDE_TRACK_STREAM, redis_keys.RIDE_TRACK_GROUP, consumer,
                                 min_idle_time=settings.RIDE_TRACK_RECLAIM_IDLE_MS, start_id="0-0",
                                 count=settings.RIDE_TRACK_INGEST_BATCH)
    return response[1] if response else []


def _apply_and_ack(client, entries, apply):
    """Apply a batch (one transaction for all its rides), then ack and delete its entries."""
    if not entries:
        return 0
    by_ride = defaultdict(list)
    for _entry_id, fields in entries:
        point = _parse(fields) if fields else None  # malformed or already deleted: nothing to apply
        if point is not None:
            by_ride[str(uuid.UUID(fields["ride_id"]))].append(point)
    applied = apply(points_by_ride=by_ride) if by_ride else 0
    _ack_and_delete(client, [entry_id for entry_id, _ in entries])
    return applied


def _ack_and_delete(client, entry_ids):
    if not entry_ids:
        return
    pipe = client.pipeline(transaction=False)
    pipe.xack(redis_keys.RIDE_TRACK_STREAM, redis_keys.RIDE_TRACK_GROUP, *entry_ids)
    pipe.xdel(redis_keys.RIDE_TRACK_STREAM, *entry_ids)
    pipe.execute()


def _parse(fields):
    try:
        uuid.UUID(fields["ride_id"])
        recorded_at = datetime.fromtimestamp(round(float(fields["t"]), 6), tz=UTC)
        return StreamPoint(lat=float(fields["lat"]), lng=float(fields["lng"]), recorded_at=recorded_at)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        logger.warning("dropping malformed track entry", extra={"fields": fields})
        return None


def _forget_idle_consumers(client):
    """Remove consumers (old worker processes) that have nothing pending and have been idle a long time."""
    try:
        consumers = client.xinfo_consumers(redis_keys.RIDE_TRACK_STREAM, redis_keys.RIDE_TRACK_GROUP)
    except redis.ResponseError:
        return
    for info in consumers:
        if info.get("pending") == 0 and info.get("idle", 0) > settings.RIDE_TRACK_CONSUMER_FORGET_IDLE_MS:
            client.xgroup_delconsumer(redis_keys.RIDE_TRACK_STREAM, redis_keys.RIDE_TRACK_GROUP, info["name"])
