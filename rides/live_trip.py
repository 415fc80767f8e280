"""The live trip: the passenger sees the assigned driver from the confirm until the ride ends.

locations' ingest script keeps a watched driver's latest accepted position in the ride's live hash in Redis and
says, within the same script call, when a `ride.driver_location` push to the passenger is due (at most one per
LIVE_TRIP_PUSH_INTERVAL_SECONDS per ride) or when the driver has just come within LIVE_TRIP_ARRIVAL_RADIUS_M of the
pickup. The pushes are live (no `seq`, not stored): a reconnecting passenger gets the latest position from Redis on
`resume`, and `GET /api/v1/rides/{id}` carries it as `driver_position`. On a socket process the pushes of one event
loop turn are published together in one pipelined round trip, never awaited by the location's ack.

The ETA to pickup is the straight-line (haversine) distance over LIVE_TRIP_CITY_SPEED_KMH: a rough figure, no
road network is consulted.
"""

import asyncio
import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import transaction

from locations import live
from locations.geo import haversine_m
from nebengjek import redis_keys
from nebengjek.realtime import push_messages, user_group
from nebengjek.redis import get_async_redis, get_live_redis

logger = logging.getLogger(__name__)

DRIVER_LOCATION = "ride.driver_location"
DRIVER_ARRIVED = "ride.driver_arrived"


@dataclass(frozen=True, slots=True)
class LiveTripHit:
    """What the ingest script said about a watched driver's accepted position."""

    ride_id: str
    passenger_id: str
    started: bool
    heading: float | None
    speed_mps: float | None
    arrived: bool
    pickup_lat: float
    pickup_lng: float
    push: bool


def _number(text: bytes | str | None) -> float | None:
    return float(text) if text else None


def hit_parse(result: list) -> LiveTripHit:
    """The ingest script's list answer (locations.live._LIVE_TRIP_LUA) as a LiveTripHit."""
    _, ride_id, passenger_id, started, heading, speed, arrived, pickup_lat, pickup_lng, push = result
    return LiveTripHit(
        ride_id=ride_id,
        passenger_id=passenger_id,
        started=started == "1",
        heading=_number(heading),
        speed_mps=_number(speed),
        arrived=arrived == "1",
        pickup_lat=float(pickup_lat),
        pickup_lng=float(pickup_lng),
        push=push == "1",
    )


def driver_position_payload(
    *,
    lat: float,
    lng: float,
    t: float,
    heading: float | None,
    speed_mps: float | None,
    pickup: tuple[float, float] | None,
) -> dict:
    """A driver position as clients see it (push and REST): with the distance and ETA to pickup while `pickup` is
    given (before the start), else those two are null."""
    distance_m = eta_s = None
    if pickup is not None:
        distance = haversine_m(lat, lng, pickup[0], pickup[1])
        distance_m = round(distance)
        eta_s = round(distance / (settings.LIVE_TRIP_CITY_SPEED_KMH / 3.6))
    return {
        "lat": lat,
        "lng": lng,
        "heading": None if heading is None else round(heading, 1),
        "speed_mps": None if speed_mps is None else round(speed_mps, 2),
        "recorded_at": datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z"),
        "distance_to_pickup_m": distance_m,
        "eta_to_pickup_s": eta_s,
    }


def driver_location_message(*, ride_id: str, position: dict) -> dict:
    """The `ride.driver_location` push: {"type", "ride_id", "driver_position"} (no seq: a live push)."""
    return {"type": DRIVER_LOCATION, "ride_id": str(ride_id), "driver_position": position}


def _hit_message(hit: LiveTripHit, *, lat: float, lng: float, t: float) -> tuple[str, dict]:
    position = driver_position_payload(
        lat=lat,
        lng=lng,
        t=t,
        heading=hit.heading,
        speed_mps=hit.speed_mps,
        pickup=None if hit.started else (hit.pickup_lat, hit.pickup_lng),
    )
    event = driver_location_message(ride_id=hit.ride_id, position=position)
    return user_group(hit.passenger_id), {"type": "realtime.event", "event": event}


def live_trip_hit(result: list, *, lat: float, lng: float, t: float) -> None:
    """Synchronous callers (REST, commands): push at once and record an arrival."""
    hit = hit_parse(result)
    if hit.push:
        push_messages([_hit_message(hit, lat=lat, lng=lng, t=t)])
    if hit.arrived:
        _arrival_record(hit.ride_id, t)


def live_trip_hit_async(result: list, *, lat: float, lng: float, t: float) -> None:
    """On a socket's event loop: queue the push for this loop's batch and record an arrival in a thread; returns at
    once (the location's ack does not wait for either)."""
    hit = hit_parse(result)
    if hit.push:
        _batcher().add(_hit_message(hit, lat=lat, lng=lng, t=t))
    if hit.arrived:
        _background(database_sync_to_async(_arrival_record)(hit.ride_id, t))


def _arrival_record(ride_id: str, t: float) -> None:
    from rides.services import ride_driver_arrived

    try:
        ride_driver_arrived(ride_id=ride_id, at=datetime.fromtimestamp(t, tz=UTC))
    except Exception:  # the live hash says arrived: the live sweeper records it (arrivals_repair)
        logger.exception("recording the driver's arrival failed", extra={"ride_id": ride_id})


_tasks: set = set()


def _background(coroutine) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class PushBatcher:
    """Collects the live pushes of one event loop; publishes them together, once per loop turn, one round trip."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, dict]] = []

    def add(self, message: tuple[str, dict]) -> None:
        self._pending.append(message)
        if len(self._pending) == 1:
            _background(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)  # the rest of this flush's results join the batch
        batch, self._pending = self._pending, []
        try:
            await publish_async(batch)
        except Exception:  # live pushes only: the next position (or `resume`) brings the latest
            logger.warning("live trip push failed", exc_info=True, extra={"pushes": len(batch)})


_batchers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PushBatcher]" = weakref.WeakKeyDictionary()


def _batcher() -> PushBatcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = PushBatcher()
    return batcher


async def publish_async(messages: list[tuple[str, dict]]) -> None:
    """Publish (group, message) pairs: straight to the pub/sub layer's Redis channels in one pipeline when the layer
    is the one-host pub/sub layer (as nebengjek.realtime does from sync code), else through group_send."""
    layer = get_channel_layer()
    hosts = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("hosts", [])
    if not isinstance(layer, RedisPubSubChannelLayer) or len(hosts) != 1:
        for group, message in messages:
            await layer.group_send(group, message)
        return
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    host = hosts[0]
    pipe = get_async_redis(host["address"] if isinstance(host, dict) else host).pipeline(transaction=False)
    for group, message in messages:
        pipe.publish(f"{prefix}__group__{group}", layer.serialize(message))
    await pipe.execute()


# Watching: which driver's positions feed which ride ----------------------------------------------------------


def _watch_value(ride, *, started: bool) -> str:
    """What the ingest script reads for the ride's driver (locations.live._LIVE_TRIP_LUA)."""
    return (
        f"{ride.pk},{ride.passenger_id},{ride.pickup_lat!r},{ride.pickup_lng!r},{1 if started else 0},"
        f"{float(settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS)!r},{float(settings.LIVE_TRIP_ARRIVAL_RADIUS_M)!r}"
    )


def live_key(ride) -> str:
    """The ride's live hash, in its driver's bucket (the ingest script writes it with the driver's state)."""
    return live.keys_of(ride.driver_id).ride_live(ride.pk)


def watch_on_commit(ride, *, started: bool = False) -> None:
    """After the commit, feed the driver's accepted positions to the ride's passenger (confirm, start). At the
    confirm, the driver's latest position becomes the ride's and is pushed at once."""

    def watch() -> None:
        client = get_live_redis()
        client.hset(live.keys_of(ride.driver_id).watched, str(ride.driver_id), _watch_value(ride, started=started))
        if not started:
            _seed_and_push(ride)

    transaction.on_commit(watch, robust=True)  # a Redis hiccup: the live sweeper re-derives the watch list


_SEED_LUA = """
local p = redis.call('HMGET', KEYS[1], 'lat', 'lng', 't')
if not p[3] or redis.call('EXISTS', KEYS[2]) == 1 then return nil end
redis.call('HSET', KEYS[2], 'lat', p[1], 'lng', p[2], 't', p[3], 'heading', '', 'speed', '', 'pushed', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return p
"""


def _seed_and_push(ride) -> None:
    client = get_live_redis()
    position = client.eval(
        _SEED_LUA,
        2,
        live.last_position_key(ride.driver_id),
        live_key(ride),
        repr(datetime.now(tz=UTC).timestamp()),
        redis_keys.RIDE_LIVE_TTL,
    )
    if position:
        lat, lng, t = (float(value) for value in position)
        payload = driver_position_payload(
            lat=lat, lng=lng, t=t, heading=None, speed_mps=None, pickup=(ride.pickup_lat, ride.pickup_lng)
        )
        push_messages(
            [
                (
                    user_group(ride.passenger_id),
                    {
                        "type": "realtime.event",
                        "event": driver_location_message(ride_id=str(ride.pk), position=payload),
                    },
                )
            ]
        )


_UNWATCH_LUA = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


def unwatch_on_commit(ride) -> None:
    """After the commit (end, cancel), stop feeding the driver's positions to this ride (a newer ride's stays)."""

    def unwatch() -> None:
        watched = live.keys_of(ride.driver_id).watched
        get_live_redis().eval(_UNWATCH_LUA, 1, watched, str(ride.driver_id), str(ride.pk))

    transaction.on_commit(unwatch, robust=True)


def watch_reconcile() -> int:
    """Make the watch list say what the database says (every live ride's driver, nobody else); the live sweeper
    calls it. Returns the drivers fixed."""
    from rides.models import LIVE_RIDE_STATUSES, Ride, RideStatus

    wanted = {
        str(ride.driver_id): _watch_value(ride, started=ride.status == RideStatus.IN_PROGRESS)
        for ride in Ride.objects.filter(status__in=LIVE_RIDE_STATUSES).only(
            "id", "driver_id", "passenger_id", "pickup_lat", "pickup_lng", "status"
        )
    }
    client = get_live_redis()
    present = live.hash_get_all(client, "watched")
    fix = {driver: value for driver, value in wanted.items() if present.get(driver) != value}
    gone = [driver for driver in present if driver not in wanted]
    if fix:
        live.hash_set_many(client, "watched", fix)
    if gone:
        live.bucket_writes(client, lambda pipe, keys, ids: pipe.hdel(keys.watched, *ids), gone)
    return len(fix) + len(gone)


def arrivals_repair() -> int:
    """Record the arrivals the ingest script flagged in a ride's live hash whose database write was lost (the write
    runs off the location's ack and is not retried there); the live sweeper calls it. The time recorded is when the
    script flagged it. Returns the arrivals recorded."""
    from rides.models import Ride, RideStatus
    from rides.services import ride_driver_arrived

    waiting = list(
        Ride.objects.filter(status=RideStatus.DRIVER_EN_ROUTE, driver_arrived_at__isnull=True).only("id", "driver_id")
    )
    if not waiting:
        return 0
    pipe = get_live_redis().pipeline(transaction=False)
    for ride in waiting:
        pipe.hget(live_key(ride), "arrived")
    flagged = [(ride.pk, float(at)) for ride, at in zip(waiting, pipe.execute(), strict=True) if at]
    return sum(ride_driver_arrived(ride_id=ride_id, at=datetime.fromtimestamp(at, tz=UTC)) for ride_id, at in flagged)


# Reading the latest position ---------------------------------------------------------------------------------


def driver_position_get(ride) -> dict | None:
    """The driver's latest position on a live ride (with distance and ETA to pickup before the start), else None."""
    from rides.models import LIVE_RIDE_STATUSES, RideStatus

    if ride.status not in LIVE_RIDE_STATUSES:
        return None
    lat, lng, t, heading, speed = get_live_redis().hmget(live_key(ride), "lat", "lng", "t", "heading", "speed")
    if t is None or lat is None or lng is None:
        return None
    pickup = (ride.pickup_lat, ride.pickup_lng) if ride.status == RideStatus.DRIVER_EN_ROUTE else None
    return driver_position_payload(
        lat=float(lat), lng=float(lng), t=float(t), heading=_number(heading), speed_mps=_number(speed), pickup=pickup
    )


def passenger_latest_message(*, user_id) -> dict | None:
    """The `ride.driver_location` message for the user's live ride as its passenger, if a position is known: sent
    on `resume`, so that a reconnecting passenger sees the driver at once."""
    from rides.models import LIVE_RIDE_STATUSES, Ride

    ride = (
        Ride.objects.filter(passenger_id=user_id, status__in=LIVE_RIDE_STATUSES)
        .only("id", "status", "pickup_lat", "pickup_lng")
        .first()
    )
    if ride is None:
        return None
    position = driver_position_get(ride)
    return None if position is None else driver_location_message(ride_id=str(ride.pk), position=position)
