"""The live index in Redis: Lua scripts that keep each step atomic, and their key/argument builders.

Every location update is one script call (filter + latest position + GEO index + ride track), so a socket
process can send a whole batch of them in one pipelined round trip (LocationFlusher). Times are passed in from
Python (never Redis' clock) so that tests can control them.
"""

import asyncio
import functools
import hashlib
import logging
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.cluster import RedisCluster
from redis.crc import key_slot

from locations.metrics import LOCATION_ACK_SECONDS
from locations.regions import region_of
from nebengjek import redis_keys, tracing
from nebengjek.redis import (
    get_live_redis,
    get_live_redis_async,
    get_redis_held,
    live_redis_is_cluster,
)

logger = logging.getLogger(__name__)


# The users' and drivers' state in buckets (nebengjek.redis_keys): one hash slot per bucket, so a Redis Cluster
# spreads it over its masters; every key of one user's state is in that user's bucket.
def live_buckets() -> int:
    """How many buckets the live state is split into: settings.LIVE_STATE_BUCKETS on a Redis Cluster, 1 on one
    Redis (a single Redis gains nothing from more: its ingest stays one script call per update)."""
    return max(1, settings.LIVE_STATE_BUCKETS) if live_redis_is_cluster() else 1


def bucket_of(user_id: Any) -> int:
    """The bucket of a user's live state: CRC32 of the id's text mod live_buckets(). Stable across processes and
    languages (unlike hash()), even for random UUIDs, and C-fast; the same user's keys always land together."""
    count = config().buckets
    if count == 1:
        return 0
    return zlib.crc32(str(user_id).encode()) % count


class BucketKeys:
    """The key names of one bucket of the live state (nebengjek.redis_keys)."""

    __slots__ = (
        "bucket",
        "region",
        "regions",
        "seen",
        "position",
        "beacon",
        "busy",
        "vehicle",
        "tracking",
        "watched",
        "pending",
        "marker",
        "last_prefix",
    )

    def __init__(self, bucket: int):
        def key(template: str) -> str:
            return redis_keys.key(template, bucket=bucket)

        self.bucket = bucket
        self.region = key(redis_keys.DRIVERS_REGION)
        self.regions = key(redis_keys.DRIVERS_REGIONS)
        self.seen = key(redis_keys.DRIVERS_SEEN)
        self.position = key(redis_keys.DRIVERS_POSITION)
        self.beacon = key(redis_keys.DRIVERS_BEACON)
        self.busy = key(redis_keys.DRIVERS_BUSY)
        self.vehicle = key(redis_keys.DRIVERS_VEHICLE)
        self.tracking = key(redis_keys.DRIVERS_TRACKING)
        self.watched = key(redis_keys.DRIVERS_WATCHED)
        self.pending = key(redis_keys.RIDE_TRACK_PENDING)
        self.marker = key(redis_keys.LIVE_STATE_MARKER)
        self.last_prefix = redis_keys.key(redis_keys.USER_LAST_POSITION, bucket=bucket, user_id="")

    def last_position(self, user_id: Any) -> str:
        return self.last_prefix + str(user_id)

    def track_stream(self, ride_id: Any) -> str:
        return redis_keys.key(redis_keys.RIDE_TRACK_STREAM, bucket=self.bucket, ride_id=ride_id)

    def ride_live(self, ride_id: Any) -> str:
        return redis_keys.key(redis_keys.RIDE_LIVE, bucket=self.bucket, ride_id=ride_id)


@functools.lru_cache(maxsize=4096)
def bucket_keys(bucket: int) -> BucketKeys:
    return BucketKeys(bucket)


def keys_of(user_id: Any) -> BucketKeys:
    """The keys of the bucket holding this user's (driver's) live state."""
    return bucket_keys(bucket_of(user_id))


def all_buckets() -> list[BucketKeys]:
    """Every bucket's keys, in bucket order (readers of all drivers pipeline one command per bucket)."""
    return [bucket_keys(bucket) for bucket in range(config().buckets)]


def by_bucket(ids: Iterable[Any]) -> dict[int, list[str]]:
    """Ids (as text) grouped by their bucket, each group in the given order."""
    groups: dict[int, list[str]] = {}
    for user_id in ids:
        text = str(user_id)
        groups.setdefault(bucket_of(text), []).append(text)
    return groups


def hash_get_many(client: Any, field: str, ids: Sequence[Any]) -> list[Any]:
    """One field of many drivers' bucket hashes (BucketKeys attribute `field`, e.g. 'vehicle'), in the order of
    `ids`: one HMGET per bucket, pipelined (one round trip per node on a cluster)."""
    groups = by_bucket(ids)
    if len(groups) == 1:
        ((bucket, members),) = groups.items()
        return list(client.hmget(getattr(bucket_keys(bucket), field), members))
    pipe = client.pipeline(transaction=False)
    for bucket, members in groups.items():
        pipe.hmget(getattr(bucket_keys(bucket), field), members)
    values: dict[str, Any] = {}
    for members, found in zip(groups.values(), pipe.execute(), strict=True):
        values.update(zip(members, found, strict=True))
    return [values[str(user_id)] for user_id in ids]


async def hash_get_many_async(client: Any, field: str, ids: Sequence[Any]) -> list[Any]:
    """hash_get_many on an asyncio client."""
    groups = by_bucket(ids)
    if len(groups) == 1:
        ((bucket, members),) = groups.items()
        return list(await client.hmget(getattr(bucket_keys(bucket), field), members))
    pipe = client.pipeline(transaction=False)
    for bucket, members in groups.items():
        pipe.hmget(getattr(bucket_keys(bucket), field), members)
    values: dict[str, Any] = {}
    for members, found in zip(groups.values(), await pipe.execute(), strict=True):
        values.update(zip(members, found, strict=True))
    return [values[str(user_id)] for user_id in ids]


def per_bucket(client: Any, command: Callable[[Any, BucketKeys], Any]) -> list[Any]:
    """`command(pipe, keys)` (one command) for every bucket, pipelined (one round trip per node on a cluster):
    their replies, in bucket order."""
    pipe = client.pipeline(transaction=False)
    for keys in all_buckets():
        command(pipe, keys)
    return pipe.execute()


def hash_get_all(client: Any, field: str) -> dict[str, Any]:
    """Every bucket's hash `field` (e.g. 'tracking') merged: driver id -> value."""
    merged: dict[str, Any] = {}
    for part in per_bucket(client, lambda pipe, keys: pipe.hgetall(getattr(keys, field))):
        merged.update(part)
    return merged


def set_members_all(client: Any, field: str) -> set[str]:
    """Every bucket's set `field` (e.g. 'busy') merged."""
    return set().union(*per_bucket(client, lambda pipe, keys: pipe.smembers(getattr(keys, field))))


def bucket_writes(client: Any, command: Callable[[Any, BucketKeys, list[str]], Any], ids: Iterable[Any]) -> None:
    """`command(pipe, keys, ids of that bucket)` for each bucket the ids fall in, pipelined."""
    groups = by_bucket(ids)
    if not groups:
        return
    pipe = client.pipeline(transaction=False)
    for bucket, members in groups.items():
        command(pipe, bucket_keys(bucket), members)
    pipe.execute()


def hash_set_many(client: Any, field: str, mapping: dict[str, Any]) -> None:
    """Set driver id -> value in each driver's bucket hash `field`."""
    mapping = {str(driver_id): value for driver_id, value in mapping.items()}
    bucket_writes(
        client, lambda pipe, keys, ids: pipe.hset(getattr(keys, field), mapping={i: mapping[i] for i in ids}), mapping
    )


# Result codes of the ingest script.
ACCEPTED = 1
DROPPED_OUT_OF_ORDER = 2
DROPPED_TOO_FAST = 3
# A driver on a ride with no previous position in Redis (expired after an hour of silence, or lost): nothing was
# written; the caller seeds the reference from the ride's durable last point and sends the position again.
NEEDS_REFERENCE = 4
# No previous position and no live-state marker: Redis lost its state (flushed, or restarted empty), the rides'
# tracking with it. Nothing was written; the caller restores the state from the database and sends it again.
STATE_LOST = 5
RESTORE_FIRST = frozenset({NEEDS_REFERENCE, STATE_LOST})
# Still unjudgeable after a restore (a race with the ride's end): dropped, never accepted blindly.
DROP_REASONS = {
    DROPPED_OUT_OF_ORDER: "out_of_order",
    DROPPED_TOO_FAST: "too_fast",
    NEEDS_REFERENCE: "no_reference",
    STATE_LOST: "no_reference",
}

# Redis GEO indexes latitudes up to +-85.05112878 (Web Mercator): a position beyond is kept but not indexed.
GEO_MAX_LAT = 85.05112878
_GEO_MAX_LAT_LUA = f"local GEO_MAX_LAT = {GEO_MAX_LAT}\n"

_HAVERSINE_LUA = """
local function haversine(lat1, lng1, lat2, lng2)
  local r = math.pi / 180
  local dphi = (lat2 - lat1) * r
  local dlmb = (lng2 - lng1) * r
  local a = math.sin(dphi / 2) ^ 2 + math.cos(lat1 * r) * math.cos(lat2 * r) * math.sin(dlmb / 2) ^ 2
  return 2 * 6371008.8 * math.asin(math.min(1, math.sqrt(a)))
end
"""

# The index, in two kinds of hash slot (nebengjek.redis_keys): the users' and drivers' state under their bucket's
# {live:<b>}, and the GEO index split by region (H3 cell) under {<cell>}. A script touches keys of one slot only (a
# Redis Cluster runs it on the one master of that slot), so a step that changes both is two scripts: the state's
# first (it decides and records which region indexes the driver, DRIVERS_REGION), then the regions' (CELL_PUT_LUA
# into the new one, CELL_DROP_LUA out of the one left). A region step that fails leaves a ghost that the region map
# disowns: the sweeper removes it (locations.services.live_sweep), and a search keeps a driver found twice once.
# The regions hold the *available* drivers only (beacon on, not busy), so a search is one GEOSEARCH and the
# positions of what it found per region. drivers:seen and drivers:pos hold every beacon-on driver with an indexable
# position, busy ones too (the ops map, the sweeper, and freeing a driver read them).

# KEYS (all of the user's bucket): last position, region map, seen, beacon, tracking, rides with pending track
#       points, indexed positions, busy, live-state marker, regions newly indexed, watched drivers
# ARGV: user id, lat, lng, t, max speed m/s, last-position TTL, a ride's stream maxlen, the position's region, now,
#       '1' to index an available driver in its region here (one Redis) or '0' (a cluster: the region is another slot)
# Returns a result code, or on a cluster for an available driver {1, region to index them in, region they leave or
# ''} (the caller's region steps, live.placed_steps).
# A tracked driver's accepted position goes to the ride's own stream (its key is made here from the ride id the
# tracking hash gives) and the ride joins the pending set, both before the ack.
# Only a position with no previous one (a user's first, or after an expiry or a loss) costs the extra checks:
# the marker (a flush removes it with every previous position), then whether the user is tracked on a ride.
# The ride's stream and live hash are in the driver's bucket: their keys are a head, the bucket's hash tag (taken
# from KEYS[1], the user's last position) and the ride id.
_RIDE_STREAM_LUA = (
    f"local RIDE_STREAM = '{redis_keys.RIDE_TRACK_STREAM.split('{{', 1)[0]}'\n"
    "local function in_bucket(head, id) return head .. string.match(KEYS[1], '%b{}') .. ':' .. id end\n"
)
# On one Redis (ARGV[10] = '1') the ingest script also writes the region step itself, so an available driver's
# update stays one script call; on a Redis Cluster the region is another slot, so the step is a second call.
_REGION_KEYS_LUA = (
    f"local REGION_GEO = '{redis_keys.REGION_GEO.split('{{{', 1)[0]}{{'\n"
    f"local REGION_POS = '{redis_keys.REGION_POSITION.split('{{{', 1)[0]}{{'\n"
)
# The live trip (rides.live_trip): a driver in drivers:watched (confirm to end) has each accepted position kept as
# the ride's latest (with heading and speed from the previous position) in the ride's live hash. The watch entry
# carries the ride's push interval and arrival radius, so an update of a driver on no ride pays one HGET and one
# argument (ARGV 8, now) more, nothing else. The script returns {1, ride id, passenger id, started, heading, speed,
# arrived, pickup lat, pickup lng, push} instead of 1 when a push to the passenger is due (push = 1) or the driver
# has just come within the arrival radius of the pickup before the start (arrived = 1, once per ride). Numbers go
# back as strings (Lua would truncate them to integers).
_LIVE_TRIP_LUA = (
    (
        f"local LIVE_TRIP = '{redis_keys.RIDE_LIVE.split('{{', 1)[0]}'\n"
        f"local LIVE_TRIP_TTL = {redis_keys.RIDE_LIVE_TTL}\n"
    )
    + """
local function live_trip(watch, prev, lat, lng, t)
  local ride, pax, plat, plng, started, interval, radius = string.match(
    watch, '([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),([^,]+)')
  local key = in_bucket(LIVE_TRIP, ride)
  local heading, speed = '', ''
  if prev[3] and t > tonumber(prev[3]) then
    local plat0, plng0 = tonumber(prev[1]), tonumber(prev[2])
    local d = haversine(plat0, plng0, lat, lng)
    speed = tostring(d / (t - tonumber(prev[3])))
    if d > 0 then
      local r = math.pi / 180
      local y = math.sin((lng - plng0) * r) * math.cos(lat * r)
      local x = math.cos(plat0 * r) * math.sin(lat * r)
        - math.sin(plat0 * r) * math.cos(lat * r) * math.cos((lng - plng0) * r)
      heading = tostring((math.atan2(y, x) / r + 360) % 360)
    end
  end
  local state = redis.call('HMGET', key, 'pushed', 'arrived')
  redis.call('HSET', key, 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4], 'heading', heading, 'speed', speed)
  redis.call('EXPIRE', key, LIVE_TRIP_TTL)
  local now = tonumber(ARGV[9])
  local arrived = '0'
  if started == '0' and not state[2] and haversine(lat, lng, tonumber(plat), tonumber(plng)) <= tonumber(radius) then
    arrived = '1'
    redis.call('HSET', key, 'arrived', ARGV[9])
  end
  local push = '0'
  if not state[1] or now - tonumber(state[1]) >= tonumber(interval) then
    push = '1'
    redis.call('HSET', key, 'pushed', ARGV[9])
  end
  if push == '1' or arrived == '1' then return {1, ride, pax, started, heading, speed, arrived, plat, plng, push} end
  return 1
end
"""
)
INGEST_LUA = (
    _GEO_MAX_LAT_LUA
    + _HAVERSINE_LUA
    + _RIDE_STREAM_LUA
    + _REGION_KEYS_LUA
    + _LIVE_TRIP_LUA
    + """
local uid = ARGV[1]
local lat, lng, t = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prev = redis.call('HMGET', KEYS[1], 'lat', 'lng', 't')
local ride
if prev[3] then
  local pt = tonumber(prev[3])
  if t < pt then return 2 end
  local d = haversine(tonumber(prev[1]), tonumber(prev[2]), lat, lng)
  if d > 0 and (t <= pt or d / (t - pt) > tonumber(ARGV[5])) then return 3 end
else
  if redis.call('EXISTS', KEYS[9]) == 0 then return 5 end
  ride = redis.call('HGET', KEYS[5], uid)
  if ride then return 4 end
end
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4], 'c', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[6])
local placed
if math.abs(lat) <= GEO_MAX_LAT and redis.call('SISMEMBER', KEYS[4], uid) == 1 then
  redis.call('ZADD', KEYS[3], t, uid)
  redis.call('HSET', KEYS[7], uid, ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4])
  if redis.call('SISMEMBER', KEYS[8], uid) == 0 then
    local old = redis.call('HGET', KEYS[2], uid)
    if old ~= ARGV[8] then
      redis.call('HSET', KEYS[2], uid, ARGV[8])
      redis.call('SADD', KEYS[10], ARGV[8])
    end
    placed = {1, ARGV[8], old or ''}
  end
end
if ride == nil then ride = redis.call('HGET', KEYS[5], uid) end
if ride then
  redis.call('XADD', in_bucket(RIDE_STREAM, ride), 'MAXLEN', '~', ARGV[7], '*', 'lat', ARGV[2], 'lng', ARGV[3],
             't', ARGV[4])
  redis.call('SADD', KEYS[6], ride)
end
local watch = redis.call('HGET', KEYS[11], uid)
if watch then
  local hit = live_trip(watch, prev, lat, lng, t)
  if hit ~= 1 then return hit end
end
if placed then
  if ARGV[10] ~= '1' then return placed end
  redis.call('GEOADD', REGION_GEO .. ARGV[8] .. '}', ARGV[3], ARGV[2], uid)
  redis.call('HSET', REGION_POS .. ARGV[8] .. '}', uid, ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4])
  if placed[3] ~= '' and placed[3] ~= ARGV[8] then
    redis.call('ZREM', REGION_GEO .. placed[3] .. '}', uid)
    redis.call('HDEL', REGION_POS .. placed[3] .. '}', uid)
  end
end
return 1
"""
)

# On a Redis Cluster the flusher sends the updates of one bucket as one call of this script: the ingest script above
# as a function of its own KEYS and ARGV (parameters shadowing the globals), run for each update.
# KEYS: the bucket's keys after the last position (region map .. watched, as the ingest script's KEYS[2..11]).
# ARGV: the last position's prefix, max speed m/s, last-position TTL, a ride's stream maxlen, now, regions inline,
#       then per update: user id, lat, lng, t, region.  Returns each update's ingest result, in order.
INGEST_BUCKET_LUA = (
    "local function ingest(KEYS, ARGV)\n"
    + INGEST_LUA
    + """
end
local results = {}
for i = 7, #ARGV, 5 do
  local keys = {ARGV[1] .. ARGV[i]}
  for k = 1, #KEYS do keys[k + 1] = KEYS[k] end
  results[#results + 1] = ingest(keys, {ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[2], ARGV[3], ARGV[4],
                                       ARGV[i + 4], ARGV[5], ARGV[6]})
end
return results
"""
)

# KEYS: a region's GEO, its positions.  ARGV: driver id, lat, lng, t.  Indexes the driver there.
CELL_PUT_LUA = """
redis.call('GEOADD', KEYS[1], ARGV[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4])
return 1
"""

# KEYS: a region's GEO, its positions.  ARGV: driver id, and optionally the "lat,lng,t" the caller saw there.
# Takes the driver out of that region (only if their entry is still the one seen, when one is given: a driver
# indexed there again meanwhile stays). Returns 1 when it did.
CELL_DROP_LUA = """
if ARGV[2] and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])
"""

# KEYS: last position.  ARGV: lat, lng, t, last-position TTL, region.  Sets the user's last position unless one
# exists (a newer one, written by an update meanwhile, wins). Returns 1 when it seeded.
SEED_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lat', ARGV[1], 'lng', ARGV[2], 't', ARGV[3], 'c', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: tracking.  ARGV: driver id, ride id.  Removes the driver's tracking entry only if it still names that ride.
TRACKING_CLEAR_IF_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

# KEYS: beacon, busy, last position, region map, seen, indexed positions, regions ever indexed.
# ARGV: driver id, the set to change first ('beacon', 'busy' or '': none), '1' add to it | '0' remove from it.
# Then puts the driver where the beacon and busy sets say: beacon on with an indexable latest position -> seen and
# positions at that position, and a region's index unless busy; otherwise out of all of them.
# Returns {1 | 0 (placed or not), region to index them in or '', region they leave or '', lat, lng, t}.
DRIVER_STATE_LUA = (
    _GEO_MAX_LAT_LUA
    + """
local uid = ARGV[1]
if ARGV[2] ~= '' then
  local set = KEYS[1]
  if ARGV[2] == 'busy' then set = KEYS[2] end
  if ARGV[3] == '1' then redis.call('SADD', set, uid) else redis.call('SREM', set, uid) end
end
local old = redis.call('HGET', KEYS[4], uid)
if redis.call('SISMEMBER', KEYS[1], uid) == 1 then
  local p = redis.call('HMGET', KEYS[3], 'lat', 'lng', 't', 'c')
  if p[3] and math.abs(tonumber(p[1])) <= GEO_MAX_LAT then
    redis.call('ZADD', KEYS[5], p[3], uid)
    redis.call('HSET', KEYS[6], uid, p[1] .. ',' .. p[2] .. ',' .. p[3])
    if p[4] and redis.call('SISMEMBER', KEYS[2], uid) == 0 then
      if old ~= p[4] then
        redis.call('HSET', KEYS[4], uid, p[4])
        redis.call('SADD', KEYS[7], p[4])
      end
      return {1, p[4], old or '', p[1], p[2], p[3]}
    end
    if old then redis.call('HDEL', KEYS[4], uid) end
    return {1, '', old or ''}
  end
end
if old then redis.call('HDEL', KEYS[4], uid) end
redis.call('ZREM', KEYS[5], uid)
redis.call('HDEL', KEYS[6], uid)
return {0, '', old or ''}
"""
)

# KEYS: a region's GEO, its positions.
# ARGV: lng, lat, radius m, wanted count, (unused), first radius m.
# Returns {ids, positions}: the ids of the nearest `wanted` available drivers of that region (about nearest
# first) and their "lat,lng,t" values (exact stored coordinates and the position's time), in the same order. The
# work is bounded (GEOSEARCH's cost grows with the area it scans): it searches a small circle first and, only
# while that holds fewer than `wanted` (the ones found in a circle are the nearest ones), widens it up to the radius
# by the density it saw: the area grows by wanted / found with 10 % to spare, the radius at least 1.2x (2x when it
# found none). Doubling instead gave the searches that fall just short a second search of four times the area.
# Freshness is left to the caller (locations.selectors), which asks again for more when stale drivers, not yet
# swept, took places: parsing the times here cost as much Redis time as the HMGET itself.
SEARCH_LUA = """
local want, radius = tonumber(ARGV[4]), tonumber(ARGV[3])
local r = math.min(tonumber(ARGV[6]), radius)
while true do
  local ids = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', r, 'm',
                         'COUNT', want, 'ASC')
  if #ids >= want or r >= radius then
    if #ids == 0 then return {ids, {}} end
    if #ids <= 1000 then return {ids, redis.call('HMGET', KEYS[2], unpack(ids))} end
    local pos = {}  -- unpack() is limited to a few thousand values
    for from = 1, #ids, 1000 do
      local part = redis.call('HMGET', KEYS[2], unpack(ids, from, math.min(from + 999, #ids)))
      for i = 1, #part do pos[from + i - 1] = part[i] end
    end
    return {ids, pos}
  end
  local grow = 2
  if #ids > 0 then grow = math.max(1.2, 1.1 * math.sqrt(want / #ids)) end
  r = math.min(r * grow, radius)
end
"""

# On the accounts' Redis (settings.REDIS_URL). KEYS: suspended users, and with a requester whose token has a
# sign-in session: that session's revoked mark and the marker saying the revoked marks are complete.
# ARGV: requester id. Returns -1 when the requester is a suspended user or its session ended (or the revoked marks
# are incomplete, as after a flush: the database must answer), else 0.
REQUESTER_LUA = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return -1 end
if KEYS[2] and (redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 0) then return -1 end
return 0
"""

# KEYS: seen, indexed positions, region map.  ARGV: stale-at-or-before t.
# Returns {ids taken out, the region that indexed each or ''}: the caller takes them out of those regions.
SWEEP_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local regions = {}
for i = 1, #stale, 500 do
  local chunk = {unpack(stale, i, math.min(i + 499, #stale))}
  local part = redis.call('HMGET', KEYS[3], unpack(chunk))
  for j = 1, #chunk do regions[#regions + 1] = part[j] or '' end
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('HDEL', KEYS[2], unpack(chunk))
  redis.call('HDEL', KEYS[3], unpack(chunk))
end
return {stale, regions}
"""

# KEYS: busy, region map.  Takes every busy driver still in the region map out of it.
# Returns {ids, their regions}: the caller takes them out of those regions.
BUSY_OUT_LUA = """
local busy = redis.call('SMEMBERS', KEYS[1])
local ids, regions = {}, {}
for i = 1, #busy, 500 do
  local chunk = {unpack(busy, i, math.min(i + 499, #busy))}
  local part = redis.call('HMGET', KEYS[2], unpack(chunk))
  for j = 1, #chunk do
    if part[j] then
      ids[#ids + 1] = chunk[j]
      regions[#regions + 1] = part[j]
      redis.call('HDEL', KEYS[2], chunk[j])
    end
  end
end
return {ids, regions}
"""

_SCRIPTS = {
    "ingest": INGEST_LUA,
    "ingest_bucket": INGEST_BUCKET_LUA,
    "driver_state": DRIVER_STATE_LUA,
    "search": SEARCH_LUA,
    "sweep": SWEEP_LUA,
    "seed": SEED_LUA,
    "tracking_clear_if": TRACKING_CLEAR_IF_LUA,
    "cell_put": CELL_PUT_LUA,
    "cell_drop": CELL_DROP_LUA,
    "requester": REQUESTER_LUA,
    "busy_out": BUSY_OUT_LUA,
}
SHAS = {name: hashlib.sha1(source.encode()).hexdigest() for name, source in _SCRIPTS.items()}


class Call(NamedTuple):
    """One script call: its name, keys (of one hash slot) and arguments."""

    name: str
    keys: Sequence[str]
    args: Sequence[Any]


def run(calls: list[Call], client=None) -> list:
    """Run script calls in one pipelined round trip (on a cluster: on one node's held connection when all their
    slots are there, else redis-py's cluster pipeline, one round trip per node) on the live-state client (or
    `client`); a call's error is its result. A server that lost its scripts (a restart, a
    failover to an empty replica) gets them loaded and the calls it refused sent again."""
    if not calls:
        return []
    client = client if client is not None else get_live_redis()
    results = _pipelined(client, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
    if missing:
        for name in {calls[i].name for i in missing}:
            client.script_load(_SCRIPTS[name])
        for i, result in zip(missing, _pipelined(client, [calls[i] for i in missing]), strict=True):
            results[i] = result
    return results


def _pipelined(client, calls):
    if isinstance(client, RedisCluster):
        node = _one_node(client, calls)
        if node is not None:  # all on one node (a search in one region): that node's held connection
            try:
                results = _pipelined(get_redis_held(f"redis://{node.host}:{node.port}/0"), calls)
                if not any(
                    isinstance(result, _ROUTE_AGAIN) and not isinstance(result, redis.exceptions.NoScriptError)
                    for result in results
                ):
                    return results
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass
            client.nodes_manager.initialize()  # the slot moved or the node is gone: ask the cluster again
    if len(calls) == 1:  # no pipeline object for one call (and a held connection stays the one used)
        call = calls[0]
        try:
            return [client.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)]
        except redis.exceptions.ResponseError as exc:
            return [exc]
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)
    return pipe.execute(raise_on_error=False)


def run_one(call: Call, client=None):
    """One script call (raises its error)."""
    client = client if client is not None else get_live_redis()
    try:
        return client.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)
    except redis.exceptions.NoScriptError:
        client.script_load(_SCRIPTS[call.name])
        return client.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)


def _one_node(client, calls):
    """The cluster node that serves every call's slot, or None when they span several."""
    get_node = client.nodes_manager.get_node_from_slot
    node = get_node(_slot(calls[0].keys[0]))
    for call in calls[1:]:
        if get_node(_slot(call.keys[0])) is not node:
            return None
    return node


async def run_async(calls: list[Call], client=None) -> list:
    """run() on the live-state asyncio client."""
    if not calls:
        return []
    client = client if client is not None else get_live_redis_async()
    results = await _pipelined_async(client, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
    if missing:
        for name in {calls[i].name for i in missing}:
            await client.script_load(_SCRIPTS[name])
        for i, result in zip(missing, await _pipelined_async(client, [calls[i] for i in missing]), strict=True):
            results[i] = result
    return results


async def _pipelined_async(client, calls):
    if len(calls) == 1:  # no pipeline object for one call
        call = calls[0]
        try:
            return [await client.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)]
        except redis.exceptions.ResponseError as exc:
            return [exc]
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.execute_command("EVALSHA", SHAS[call.name], len(call.keys), *call.keys, *call.args)
    return await pipe.execute(raise_on_error=False)


@functools.lru_cache(maxsize=65536)
def region_keys(cell: str) -> tuple[str, str]:
    """A region's GEO index and positions (one hash slot: the cell's)."""
    return (redis_keys.key(redis_keys.REGION_GEO, cell=cell), redis_keys.key(redis_keys.REGION_POSITION, cell=cell))


def region_steps(driver_id: str, put: str, leave: str, lat, lng, t) -> list[Call]:
    """The region half of a step whose state half said: index the driver in `put` (or nowhere: ''), and take them
    out of `leave` (or nowhere)."""
    steps = []
    if put:
        steps.append(Call("cell_put", region_keys(put), [driver_id, lat, lng, t]))
    if leave and leave != put:
        steps.append(Call("cell_drop", region_keys(leave), [driver_id]))
    return steps


def _is_placed(result: Any) -> bool:
    """The ingest script placed an available driver: {1, region to put them in, region left} (a live trip's hit is
    a longer list, rides.live_trip)."""
    return isinstance(result, list) and len(result) == _PLACED_LEN


_PLACED_LEN = 3


def placed_steps(driver_id: str, result: Any, lat: Any, lng: Any, t: Any) -> list[Call]:
    """The region steps an ingest result asks for ({1, put, leave}); none for anything else."""
    if _is_placed(result):
        return region_steps(driver_id, result[1], result[2], lat, lng, t)
    return []


def result_code(result: Any) -> Any:
    """The ingest script's answer as its callers know it: a result code, or a live trip's hit (a list); a
    placement's list counts as ACCEPTED (its region steps are the flusher's business)."""
    return result[0] if _is_placed(result) else result


def region_steps_run(steps: list[Call]) -> None:
    """Run region steps; one that fails leaves a ghost or a gap that the sweeper or the driver's next position
    repairs (logged, not raised: the driver's state is already recorded)."""
    if not steps:
        return
    failed = [result for result in run(steps) if isinstance(result, Exception)]
    if failed:
        logger.warning("live region step failed", extra={"failed": len(failed), "error": str(failed[0])})


def driver_state(driver_id, change="", on=False) -> int:
    """Add the driver to or remove them from the `change` set ('beacon', 'busy' or '' for none), then place them
    in or out of the index by the beacon and busy sets. Returns 1 when placed (beacon on, indexable position)."""
    return driver_states([driver_id], change, on)[0]


def driver_states(driver_ids, change="", on=False) -> list[int]:
    """driver_state for several drivers: the state scripts in one round trip, then their region steps in one."""
    ids = [str(driver_id) for driver_id in driver_ids]
    results = run(
        [
            Call("driver_state", driver_state_keys(driver_id), [driver_id, change, "1" if on else "0"])
            for driver_id in ids
        ]
    )
    steps, placed = [], []
    for driver_id, result in zip(ids, results, strict=True):
        if isinstance(result, Exception):
            raise result
        put, leave = result[1], result[2]
        steps += region_steps(driver_id, put, leave, *(result[3:6] if put else ("", "", "")))
        placed.append(result[0])
    region_steps_run(steps)
    return placed


def driver_state_keys(driver_id) -> list[str]:
    keys = keys_of(driver_id)
    return [
        keys.beacon,
        keys.busy,
        keys.last_position(driver_id),
        keys.region,
        keys.seen,
        keys.position,
        keys.regions,
    ]


def reference_seed_call(user_id, lat: float, lng: float, t: float) -> Call:
    """Make (lat, lng, t) the user's last position unless Redis has one (a Call, for run())."""
    return Call(
        "seed",
        [last_position_key(user_id)],
        [
            repr(float(lat)),
            repr(float(lng)),
            repr(float(t)),
            redis_keys.USER_LAST_POSITION_TTL,
            region_of(float(lat), float(lng)),
        ],
    )


def reference_seed(user_id, lat: float, lng: float, t: float) -> int:
    """Make (lat, lng, t) the user's last position unless Redis has one."""
    return run_one(reference_seed_call(user_id, lat, lng, t))


def tracking_clear_if_call(driver_id, ride_id) -> Call:
    """Stop tracking the driver's positions for `ride_id` (an entry naming another ride stays); a Call."""
    return Call("tracking_clear_if", [keys_of(driver_id).tracking], [str(driver_id), str(ride_id)])


def tracking_clear_if(driver_id, ride_id) -> int:
    return run_one(tracking_clear_if_call(driver_id, ride_id))


def driver_vehicle_set(driver_id, vehicle_type: str | None) -> None:
    """Mirror a driver's vehicle type (accounts.DriverProfile) for the search's product filter; None removes it."""
    client, key = get_live_redis(), keys_of(driver_id).vehicle
    if vehicle_type:
        client.hset(key, str(driver_id), vehicle_type)
    else:
        client.hdel(key, str(driver_id))


def last_position_key(user_id) -> str:
    return keys_of(user_id).last_position(user_id)


def max_speed_mps():
    return config().max_speed_mps


class _Config:
    """The location settings the hot path reads, read once (re-read when a test changes settings)."""

    __slots__ = (
        "max_speed_mps",
        "max_accuracy_m",
        "future_tolerance_s",
        "fresh_seconds",
        "ingest_tail",
        "regions_inline",
        "buckets",
        "ingest_keys",
    )

    def __init__(self):
        self.max_speed_mps = settings.LOCATION_MAX_SPEED_KMH / 3.6
        self.max_accuracy_m = settings.LOCATION_MAX_ACCURACY_M
        self.future_tolerance_s = settings.LOCATION_FUTURE_TOLERANCE_SECONDS
        self.fresh_seconds = settings.LOCATION_FRESH_SECONDS
        # The ingest script's trailing arguments, RESP-encoded once (LocationFlusher packs commands itself).
        self.ingest_tail = b"".join(
            _bulk(arg)
            for arg in (
                repr(self.max_speed_mps),
                redis_keys.USER_LAST_POSITION_TTL,
                redis_keys.RIDE_TRACK_STREAM_MAXLEN,
            )
        )
        self.regions_inline = _bulk("0" if live_redis_is_cluster() else "1")
        self.buckets = live_buckets()
        # Per bucket: (the last-position key's prefix, the ingest's other keys RESP-encoded)
        self.ingest_keys = [
            (keys.last_prefix, b"".join(_bulk(key) for key in _ingest_keys_after_first(keys)))
            for keys in (BucketKeys(bucket) for bucket in range(self.buckets))
        ]


_config = None


def config():
    global _config
    if _config is None:
        _config = _Config()
    return _config


@receiver(setting_changed)
def _config_reset(**kwargs):
    global _config
    _config = None


def _ingest_keys_after_first(keys: BucketKeys) -> list[str]:
    return [
        keys.region,
        keys.seen,
        keys.beacon,
        keys.tracking,
        keys.pending,
        keys.position,
        keys.busy,
        keys.marker,
        keys.regions,
        keys.watched,
    ]


def ingest_keys_args(user_id, lat, lng, t, now=None):
    bucket = keys_of(user_id)
    keys = [bucket.last_position(user_id), *_ingest_keys_after_first(bucket)]
    args = [
        str(user_id),
        repr(float(lat)),
        repr(float(lng)),
        repr(float(t)),
        repr(max_speed_mps()),
        redis_keys.USER_LAST_POSITION_TTL,
        redis_keys.RIDE_TRACK_STREAM_MAXLEN,
        region_of(lat, lng),
        repr(time.time() if now is None else float(now)),
        "0" if live_redis_is_cluster() else "1",
    ]
    return keys, args


def ingest_bucket_call(bucket: int, updates: Sequence[tuple], now: float) -> Call:
    """The ingest of several updates [(user id, lat, lng, t, region)] of one bucket as one script call (a Redis
    Cluster's flusher); its result is each update's ingest result, in order."""
    keys = bucket_keys(bucket)
    args: list[Any] = [
        keys.last_prefix,
        repr(max_speed_mps()),
        redis_keys.USER_LAST_POSITION_TTL,
        redis_keys.RIDE_TRACK_STREAM_MAXLEN,
        repr(float(now)),
        "0" if live_redis_is_cluster() else "1",
    ]
    for uid, lat, lng, t, region in updates:
        args += [str(uid), repr(float(lat)), repr(float(lng)), repr(float(t)), region]
    return Call("ingest_bucket", _ingest_keys_after_first(keys), args)


def ingest(user_id, lat, lng, t):
    """Record one position (sync): the state script, then its region steps. Returns ACCEPTED or a DROPPED_* code
    (or one of RESTORE_FIRST), or for a watched driver's position whose push is due, a list
    (rides.live_trip.LiveTripHit)."""
    keys, args = ingest_keys_args(user_id, lat, lng, t)
    result = run_one(Call("ingest", keys, args))
    region_steps_run(placed_steps(str(user_id), result, args[1], args[2], args[3]))
    return result_code(result)


def _bulk(value):
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _packed(call: Call) -> bytes:
    """A script call packed as RESP (its constant head, per script and keys, encoded once)."""
    return _packed_head(call.name, tuple(call.keys), len(call.args)) + b"".join(_bulk(arg) for arg in call.args)


@functools.lru_cache(maxsize=65536)
def _packed_head(name: str, keys: tuple, arg_count: int) -> bytes:
    parts = ["EVALSHA", SHAS[name], len(keys), *keys]
    return b"*%d\r\n" % (len(parts) + arg_count) + b"".join(_bulk(part) for part in parts)


_INGEST_SHA = SHAS["ingest"]
# EVALSHA sha 11 <last position key> region-map seen beacon tracking pending positions busy marker regions watched
# <uid> <lat> <lng> <t> + ingest_tail + <region> <now> <regions inline: 1 on one Redis, 0 on a cluster>
_INGEST_HEAD = b"*24\r\n" + _bulk("EVALSHA") + _bulk(_INGEST_SHA) + _bulk(11)


def ingest_command(user_id, lat, lng, t, region=None, now=None, bucket=None):
    """One ingest script call, packed as RESP (the same command as ingest(), without redis-py's per-command
    argument packing: the constant parts are encoded once per bucket)."""
    uid, settings_now = str(user_id), config()
    last_prefix, other_keys = settings_now.ingest_keys[bucket_of(uid) if bucket is None else bucket]
    return b"".join(
        (
            _INGEST_HEAD,
            _bulk(last_prefix + uid),
            other_keys,
            _bulk(uid),
            _bulk(repr(float(lat))),
            _bulk(repr(float(lng))),
            _bulk(repr(float(t))),
            settings_now.ingest_tail,
            _bulk(region or region_of(lat, lng)),
            _bulk(repr(time.time() if now is None else float(now))),
            settings_now.regions_inline,
        )
    )


class LocationFlusher:
    """Batches location updates of all sockets of one event loop into one pipelined Redis round trip per node.

    One flush is in flight at a time; updates that arrive meanwhile (plus a short window) go in the next one.
    Each caller awaits its own result, so the socket acks only after its update reached Redis. A flush is the
    state scripts of the whole batch; on a Redis Cluster then the region steps they asked for (a second round trip,
    only for available drivers; on one Redis the state script indexes the driver in its region itself). The
    commands are pre-packed EVALSHAs: on one Redis one buffer on a connection of the flusher's own pool; on a Redis
    Cluster one buffer per node on that node's own connection, all nodes at once.
    """

    def __init__(self, window_s):
        self._window_s = window_s
        self._pending = []
        self._first_at = 0.0  # when the oldest update waiting for the next flush arrived
        self._task = None
        self._cluster = live_redis_is_cluster()
        self._node_clients: dict[str, aioredis.Redis] = {}  # on a cluster: node name -> its own connections
        # Its own connections, bound to this event loop (one flush in flight needs one).
        self._client: Any = (
            get_live_redis_async()
            if self._cluster
            else aioredis.Redis.from_url(
                settings.LIVE_REDIS_URL,
                decode_responses=True,
                socket_connect_timeout=2,
                socket_timeout=None,
                max_connections=2,
            )
        )

    async def submit(self, user_id, lat, lng, t):
        future = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append(((str(user_id), lat, lng, t, region_of(lat, lng)), future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self):
        try:
            while self._pending:
                if self._window_s:
                    await asyncio.sleep(self._window_s)
                batch, self._pending, first_at = self._pending, [], self._first_at
                await self._flush(batch)
                LOCATION_ACK_SECONDS.observe(time.monotonic() - first_at)
        finally:
            self._task = None

    async def _flush(self, batch):
        with tracing.hot_span("locations.flush", {"batch.size": len(batch)}):
            await self._flush_batch(batch)

    async def _flush_batch(self, batch):
        try:
            results = await self._state_step(batch)
            steps = []
            for ((uid, lat, lng, t, _), _), result in zip(batch, results, strict=True):
                if isinstance(result, list):
                    steps += placed_steps(uid, result, repr(float(lat)), repr(float(lng)), repr(float(t)))
            if steps:
                failed = [
                    r
                    for r in await self._send([(call.keys[0], _packed(call), call) for call in steps])
                    if isinstance(r, Exception)
                ]
                if failed:  # the state is recorded; the sweeper or the next position repairs the region
                    logger.warning("live region step failed", extra={"failed": len(failed), "error": str(failed[0])})
        except Exception as exc:  # Redis down: every waiting socket answers service_unavailable
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result_code(result))

    async def _state_step(self, batch):
        """Each update's state script, in its driver's bucket's slot (one Redis: the one bucket)."""
        if config().buckets == 1:
            slot_key = bucket_keys(0).marker
            return await self._send(
                [
                    (slot_key, ingest_command(uid, lat, lng, t, region, bucket=0), (uid, lat, lng, t))
                    for (uid, lat, lng, t, region), _ in batch
                ]
            )
        groups: dict[int, list[int]] = {}  # on a cluster: one script call per bucket, each bucket's updates in it
        for index, ((uid, _, _, _, _), _) in enumerate(batch):
            groups.setdefault(bucket_of(uid), []).append(index)
        now = time.time()
        calls = [ingest_bucket_call(bucket, [batch[i][0] for i in indexes], now) for bucket, indexes in groups.items()]
        replies = await self._send([(call.keys[0], _packed(call), call) for call in calls])
        results: list[Any] = [None] * len(batch)
        for indexes, reply in zip(groups.values(), replies, strict=True):
            for i, result in zip(indexes, reply if isinstance(reply, list) else [reply] * len(indexes), strict=True):
                results[i] = result
        return results

    async def _send(self, items):
        """[(a key of the command's slot, the packed command, its Call or the ingest's (uid, lat, lng, t))] -> their
        results (an error reply as its exception). A server that lost its scripts gets them loaded and what it
        refused sent again."""
        if self._cluster:
            return await self._send_cluster(items)
        results = await self._execute(self._client, [packed for _, packed, _ in items])
        if any(isinstance(result, redis.exceptions.NoScriptError) for result in results):
            for name in {_call_of(what).name for _, _, what in items}:
                await self._client.script_load(_SCRIPTS[name])
            results = await self._execute(self._client, [packed for _, packed, _ in items])
        return results

    async def _send_cluster(self, items):
        """Each node's commands as one buffer on that node's own connection, all nodes at once. What a node
        refuses (its slot moved: a failover or a resharding; its scripts lost) goes again through redis-py's cluster
        pipeline, which follows the redirections and refreshes the slot map."""
        client = self._client
        if not client.nodes_manager.slots_cache:
            await client.initialize()
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for index, (slot_key, _, _) in enumerate(items):
            node = client.nodes_manager.get_node_from_slot(_slot(slot_key))
            by_node.setdefault(node.name, (node, []))[1].append(index)
        results = [None] * len(items)

        async def node_send(node, indexes):
            replies = await self._execute(self._node_client(node), [items[i][1] for i in indexes])
            for i, reply in zip(indexes, replies, strict=True):
                results[i] = reply

        try:
            await asyncio.gather(*(node_send(node, indexes) for node, indexes in by_node.values()))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            self._node_clients.clear()  # a node died: the next batch asks the cluster who serves its slots now
            await client.nodes_manager.initialize()
            raise
        again = [i for i, result in enumerate(results) if isinstance(result, _ROUTE_AGAIN)]
        if again:
            redone = await run_async([_call_of(items[i][2]) for i in again], client)
            for i, result in zip(again, redone, strict=True):
                results[i] = result
        return results

    def _node_client(self, node):
        client = self._node_clients.get(node.name)
        if client is None:
            client = self._node_clients[node.name] = aioredis.Redis(
                host=node.host,
                port=node.port,
                decode_responses=True,
                socket_connect_timeout=2,
                socket_timeout=None,
                max_connections=2,
            )
        return client

    @staticmethod
    async def _execute(client, commands):
        pool = client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(b"".join(commands), check_health=False)
            results = []
            for _ in commands:
                try:
                    results.append(await connection.read_response())
                except redis.exceptions.ResponseError as exc:  # this command's error reply; read on
                    results.append(exc)
            return results
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)


_ROUTE_AGAIN = (
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.NoScriptError,
)


def _call_of(what) -> Call:
    """A flusher item's Call (an ingest is carried as its (uid, lat, lng, t) until it is needed)."""
    if isinstance(what, Call):
        return what
    return Call("ingest", *ingest_keys_args(*what))


@functools.lru_cache(maxsize=65536)
def _slot(key: str) -> int:
    return key_slot(key.encode())


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "LocationFlusher"] = weakref.WeakKeyDictionary()


_last_flusher: list[Any] = [None, None]  # (loop, its flusher): saves a WeakKeyDictionary look-up on every update


def flusher():
    """The LocationFlusher of the running event loop (one per server process in production)."""
    loop = asyncio.get_running_loop()
    if _last_flusher[0] is loop:
        return _last_flusher[1]
    current = _flushers.get(loop)
    if current is None:
        current = _flushers[loop] = LocationFlusher(settings.LOCATION_FLUSH_WINDOW_MS / 1000)
    _last_flusher[:] = [loop, current]
    return current
