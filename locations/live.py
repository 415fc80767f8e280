"""The live index in Redis: Lua scripts that keep each step atomic, and their key/argument builders.

Every location update is one script call (filter + latest position + GEO index + ride track), so a socket
process can send a whole batch of them in one pipelined round trip (LocationFlusher). Times are passed in from
Python (never Redis' clock) so that tests can control them.
"""
import asyncio
import hashlib
import logging
import time
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from locations.metrics import LOCATION_ACK_SECONDS
from nebengjek import redis_keys, tracing
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

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
DROP_REASONS = {DROPPED_OUT_OF_ORDER: "out_of_order", DROPPED_TOO_FAST: "too_fast", NEEDS_REFERENCE: "no_reference",
                STATE_LOST: "no_reference"}

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

# The index. drivers:geo holds the *available* drivers only (beacon on, not busy), so a search is one GEOSEARCH and
# the positions of what it found. drivers:seen and drivers:pos hold every beacon-on driver with an indexable position,
# busy ones too (the ops map, the sweeper, and freeing a driver read them).

# KEYS: last position, geo, seen, beacon, tracking, rides with pending track points, indexed positions, busy,
#       live-state marker
# ARGV: user id, lat, lng, t, max speed m/s, last-position TTL, a ride's stream maxlen
# A tracked driver's accepted position goes to the ride's own stream (its key is made here from the ride id the
# tracking hash gives) and the ride joins the pending set, both before the ack.
# Only a position with no previous one (a user's first, or after an expiry or a loss) costs the extra checks:
# the marker (a flush removes it with every previous position), then whether the user is tracked on a ride.
_RIDE_STREAM_LUA = f"local RIDE_STREAM = '{redis_keys.RIDE_TRACK_STREAM_PREFIX}'\n"
# The live trip (rides.live_trip): a driver in drivers:watched (confirm to end) has each accepted position kept as
# the ride's latest (with heading and speed from the previous position) in the ride's live hash. The watch entry
# carries the ride's push interval and arrival radius, so an update of a driver on no ride pays one HGET and one
# argument (ARGV 8, now) more, nothing else. The script returns {1, ride id, passenger id, started, heading, speed,
# arrived, pickup lat, pickup lng, push} instead of 1 when a push to the passenger is due (push = 1) or the driver
# has just come within the arrival radius of the pickup before the start (arrived = 1, once per ride). Numbers go back as strings (Lua would
# truncate them to integers).
_LIVE_TRIP_LUA = (f"local LIVE_TRIP = '{redis_keys.RIDE_LIVE_PREFIX}'\n"
                  f"local LIVE_TRIP_TTL = {redis_keys.RIDE_LIVE_TTL}\n") + """
local function live_trip(watch, prev, lat, lng, t)
  local ride, pax, plat, plng, started, interval, radius = string.match(
    watch, '([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),([^,]+),([^,]+)')
  local key = LIVE_TRIP .. ride .. '}'
  local heading, speed = '', ''
  if prev[3] and t > tonumber(prev[3]) then
    local plat0, plng0 = tonumber(prev[1]), tonumber(prev[2])
    local d = haversine(plat0, plng0, lat, lng)
    speed = tostring(d / (t - tonumber(prev[3])))
    if d > 0 then
      local r = math.pi / 180
      local y = math.sin((lng - plng0) * r) * math.cos(lat * r)
      local x = math.cos(plat0 * r) * math.sin(lat * r) - math.sin(plat0 * r) * math.cos(lat * r) * math.cos((lng - plng0) * r)
      heading = tostring((math.atan2(y, x) / r + 360) % 360)
    end
  end
  local state = redis.call('HMGET', key, 'pushed', 'arrived')
  redis.call('HSET', key, 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4], 'heading', heading, 'speed', speed)
  redis.call('EXPIRE', key, LIVE_TRIP_TTL)
  local now = tonumber(ARGV[8])
  local arrived = '0'
  if started == '0' and not state[2] and haversine(lat, lng, tonumber(plat), tonumber(plng)) <= tonumber(radius) then
    arrived = '1'
    redis.call('HSET', key, 'arrived', ARGV[8])
  end
  local push = '0'
  if not state[1] or now - tonumber(state[1]) >= tonumber(interval) then
    push = '1'
    redis.call('HSET', key, 'pushed', ARGV[8])
  end
  if push == '1' or arrived == '1' then return {1, ride, pax, started, heading, speed, arrived, plat, plng, push} end
  return 1
end
"""
INGEST_LUA = _GEO_MAX_LAT_LUA + _HAVERSINE_LUA + _RIDE_STREAM_LUA + _LIVE_TRIP_LUA + """
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
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if math.abs(lat) <= GEO_MAX_LAT and redis.call('SISMEMBER', KEYS[4], uid) == 1 then
  redis.call('ZADD', KEYS[3], t, uid)
  redis.call('HSET', KEYS[7], uid, ARGV[2] .. ',' .. ARGV[3] .. ',' .. ARGV[4])
  if redis.call('SISMEMBER', KEYS[8], uid) == 0 then
    redis.call('GEOADD', KEYS[2], lng, lat, uid)
  end
end
if ride == nil then ride = redis.call('HGET', KEYS[5], uid) end
if ride then
  redis.call('XADD', RIDE_STREAM .. ride .. '}', 'MAXLEN', '~', ARGV[7], '*', 'lat', ARGV[2], 'lng', ARGV[3],
             't', ARGV[4])
  redis.call('SADD', KEYS[6], ride)
end
local watch = redis.call('HGET', KEYS[10], uid)
if watch then return live_trip(watch, prev, lat, lng, t) end
return 1
"""

# KEYS: last position.  ARGV: lat, lng, t, last-position TTL.  Sets the user's last position unless one exists
# (a newer one, written by an update meanwhile, wins). Returns 1 when it seeded.
SEED_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lat', ARGV[1], 'lng', ARGV[2], 't', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: tracking.  ARGV: driver id, ride id.  Removes the driver's tracking entry only if it still names that ride.
TRACKING_CLEAR_IF_LUA = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

# KEYS: beacon, busy, last position, geo, seen, indexed positions.
# ARGV: driver id, the set to change first ('beacon', 'busy' or '': none), '1' add to it | '0' remove from it.
# Then puts the driver where the beacon and busy sets say: beacon on with an indexable latest position -> seen and
# positions at that position, and the GEO index unless busy; otherwise out of all three.
DRIVER_STATE_LUA = _GEO_MAX_LAT_LUA + """
local uid = ARGV[1]
if ARGV[2] ~= '' then
  local set = KEYS[1]
  if ARGV[2] == 'busy' then set = KEYS[2] end
  if ARGV[3] == '1' then redis.call('SADD', set, uid) else redis.call('SREM', set, uid) end
end
if redis.call('SISMEMBER', KEYS[1], uid) == 1 then
  local p = redis.call('HMGET', KEYS[3], 'lat', 'lng', 't')
  if p[3] and math.abs(tonumber(p[1])) <= GEO_MAX_LAT then
    redis.call('ZADD', KEYS[5], p[3], uid)
    redis.call('HSET', KEYS[6], uid, p[1] .. ',' .. p[2] .. ',' .. p[3])
    if redis.call('SISMEMBER', KEYS[2], uid) == 1 then
      redis.call('ZREM', KEYS[4], uid)
    else
      redis.call('GEOADD', KEYS[4], p[2], p[1], uid)
    end
    return 1
  end
end
redis.call('ZREM', KEYS[4], uid)
redis.call('ZREM', KEYS[5], uid)
redis.call('HDEL', KEYS[6], uid)
return 0
"""

# KEYS: geo (available drivers), suspended users, indexed positions, drivers' vehicle types, and with a requester
# whose token has a sign-in session: that session's revoked mark and the marker saying the revoked marks are complete.
# ARGV: lng, lat, radius m, wanted count, requester id (or '': nobody to check), first radius m, and the vehicle types
# wanted as ",motorcycle,car," ('' for any): a driver of another (or an unknown) vehicle type gets no position (nil),
# which the caller skips as it skips a missing one, asking again for more when too few were left.
# Returns -1 when the requester is a suspended user or its session ended (or the revoked marks are incomplete, as
# after a flush: the database must answer), else {ids, positions}: the ids of the nearest `wanted`
# available drivers (about nearest first) and their "lat,lng,t" values (exact stored coordinates and the position's
# time), in the same order. The work is bounded (GEOSEARCH's cost grows with the area it scans): it searches a small
# circle first and, only while that holds fewer than `wanted` (the ones found in a circle are the nearest ones),
# widens it up to the radius by the density it saw: the area grows by wanted / found with 10 % to spare, the radius
# at least 1.2x (2x when it found none). Doubling instead gave the searches that fall just short a second search of
# four times the area.
# The GEO index holds available drivers only, so the one other read is an HMGET of the positions. Freshness is left
# to the caller (locations.selectors), which asks again for more when stale drivers, not yet swept, took places:
# parsing the times here cost as much Redis time as the HMGET itself.
SEARCH_LUA = """
if ARGV[5] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[5]) == 1 then return -1 end
if KEYS[5] and (redis.call('EXISTS', KEYS[5]) == 1 or redis.call('EXISTS', KEYS[6]) == 0) then return -1 end
local want, radius = tonumber(ARGV[4]), tonumber(ARGV[3])
local function only_vehicles(ids, pos)
  if ARGV[7] == nil or ARGV[7] == '' or #ids == 0 then return {ids, pos} end
  for from = 1, #ids, 1000 do
    local part = redis.call('HMGET', KEYS[4], unpack(ids, from, math.min(from + 999, #ids)))
    for i = 1, #part do
      if not part[i] or not string.find(ARGV[7], ',' .. part[i] .. ',', 1, true) then pos[from + i - 1] = false end
    end
  end
  return {ids, pos}
end
local r = math.min(tonumber(ARGV[6]), radius)
while true do
  local ids = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', r, 'm',
                         'COUNT', want, 'ASC')
  if #ids >= want or r >= radius then
    if #ids == 0 then return {ids, {}} end
    if #ids <= 1000 then return only_vehicles(ids, redis.call('HMGET', KEYS[3], unpack(ids))) end
    local pos = {}  -- unpack() is limited to a few thousand values
    for from = 1, #ids, 1000 do
      local part = redis.call('HMGET', KEYS[3], unpack(ids, from, math.min(from + 999, #ids)))
      for i = 1, #part do pos[from + i - 1] = part[i] end
    end
    return only_vehicles(ids, pos)
  end
  local grow = 2
  if #ids > 0 then grow = math.max(1.2, 1.1 * math.sqrt(want / #ids)) end
  r = math.min(r * grow, radius)
end
"""

# KEYS: geo, seen, indexed positions.  ARGV: stale-at-or-before t.  Returns the ids taken out of the index.
SWEEP_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for i = 1, #stale, 500 do
  local chunk = {unpack(stale, i, math.min(i + 499, #stale))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
  redis.call('HDEL', KEYS[3], unpack(chunk))
end
return stale
"""

_SCRIPTS = {"ingest": INGEST_LUA, "driver_state": DRIVER_STATE_LUA, "search": SEARCH_LUA, "sweep": SWEEP_LUA,
            "seed": SEED_LUA, "tracking_clear_if": TRACKING_CLEAR_IF_LUA}
_registered: dict[str, Any] = {}


def script(name):
    """The registered (EVALSHA, loads on NOSCRIPT) synchronous script `name`."""
    registered = _registered.get(name)
    if registered is None:
        registered = _registered[name] = get_redis().register_script(_SCRIPTS[name])
    return registered


_async_registered: dict[str, tuple[Any, Any]] = {}


def async_script(name, client):
    """The AsyncScript `name` registered on the asyncio `client` (EVALSHA, loads on NOSCRIPT)."""
    registered = _async_registered.get(name)
    if registered is None or registered[0] is not client:
        registered = _async_registered[name] = (client, client.register_script(_SCRIPTS[name]))
    return registered[1]


def driver_state(driver_id, change="", on=False, client=None):
    """Run the driver-state script once: add the driver to or remove them from the `change` set ('beacon', 'busy'
    or '' for none), then place them in or out of the index by the beacon and busy sets. `client` may be a
    pipeline."""
    keys = [redis_keys.DRIVERS_BEACON, redis_keys.DRIVERS_BUSY, last_position_key(driver_id), redis_keys.DRIVERS_GEO,
            redis_keys.DRIVERS_SEEN, redis_keys.DRIVERS_POSITION]
    return script("driver_state")(keys=keys, args=[str(driver_id), change, "1" if on else "0"], client=client)


def reference_seed(user_id, lat: float, lng: float, t: float, client=None) -> int:
    """Make (lat, lng, t) the user's last position unless Redis has one; `client` may be a pipeline."""
    return script("seed")(keys=[last_position_key(user_id)],
                          args=[repr(float(lat)), repr(float(lng)), repr(float(t)), redis_keys.USER_LAST_POSITION_TTL],
                          client=client)


def tracking_clear_if(driver_id, ride_id, client=None) -> int:
    """Stop tracking the driver's positions for `ride_id` (an entry naming another ride stays)."""
    return script("tracking_clear_if")(keys=[redis_keys.DRIVERS_TRACKING], args=[str(driver_id), str(ride_id)],
                                       client=client)


def driver_vehicle_set(driver_id, vehicle_type: str | None, client=None) -> None:
    """Mirror a driver's vehicle type (accounts.DriverProfile) for the search's product filter; None removes it."""
    client = client or get_redis()
    if vehicle_type:
        client.hset(redis_keys.DRIVERS_VEHICLE, str(driver_id), vehicle_type)
    else:
        client.hdel(redis_keys.DRIVERS_VEHICLE, str(driver_id))


def last_position_key(user_id):
    return redis_keys.key(redis_keys.USER_LAST_POSITION, user_id=user_id)


def max_speed_mps():
    return config().max_speed_mps


class _Config:
    """The location settings the hot path reads, read once (re-read when a test changes settings)."""

    __slots__ = ("max_speed_mps", "max_accuracy_m", "future_tolerance_s", "fresh_seconds", "ingest_tail")

    def __init__(self):
        self.max_speed_mps = settings.LOCATION_MAX_SPEED_KMH / 3.6
        self.max_accuracy_m = settings.LOCATION_MAX_ACCURACY_M
        self.future_tolerance_s = settings.LOCATION_FUTURE_TOLERANCE_SECONDS
        self.fresh_seconds = settings.LOCATION_FRESH_SECONDS
        # The ingest script's trailing arguments, RESP-encoded once (LocationFlusher packs commands itself).
        self.ingest_tail = b"".join(_bulk(arg) for arg in (
            repr(self.max_speed_mps), redis_keys.USER_LAST_POSITION_TTL, redis_keys.RIDE_TRACK_STREAM_MAXLEN))


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


def ingest_keys_args(user_id, lat, lng, t, now=None):
    keys = [last_position_key(user_id), redis_keys.DRIVERS_GEO, redis_keys.DRIVERS_SEEN, redis_keys.DRIVERS_BEACON,
            redis_keys.DRIVERS_TRACKING, redis_keys.RIDE_TRACK_PENDING, redis_keys.DRIVERS_POSITION,
            redis_keys.DRIVERS_BUSY, redis_keys.LIVE_STATE_MARKER, redis_keys.DRIVERS_WATCHED]
    args = [str(user_id), repr(float(lat)), repr(float(lng)), repr(float(t)), repr(max_speed_mps()),
            redis_keys.USER_LAST_POSITION_TTL, redis_keys.RIDE_TRACK_STREAM_MAXLEN,
            repr(time.time() if now is None else float(now))]
    return keys, args


def ingest(user_id, lat, lng, t):
    """Run the ingest script once (sync); returns ACCEPTED or a DROPPED_* code, or for a watched driver's
    position whose push is due, a list (rides.live_trip.LiveTripHit)."""
    keys, args = ingest_keys_args(user_id, lat, lng, t)
    return script("ingest")(keys=keys, args=args)


def _bulk(value):
    data = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


_INGEST_SHA = hashlib.sha1(INGEST_LUA.encode()).hexdigest()
# EVALSHA sha 10 <last position key> geo seen beacon tracking pending positions busy marker watched
# <uid> <lat> <lng> <t> + ingest_tail + <now>
_INGEST_HEAD = b"*21\r\n" + _bulk("EVALSHA") + _bulk(_INGEST_SHA) + _bulk(10)
_INGEST_KEYS_AFTER_FIRST = b"".join(_bulk(key) for key in (
    redis_keys.DRIVERS_GEO, redis_keys.DRIVERS_SEEN, redis_keys.DRIVERS_BEACON, redis_keys.DRIVERS_TRACKING,
    redis_keys.RIDE_TRACK_PENDING, redis_keys.DRIVERS_POSITION, redis_keys.DRIVERS_BUSY,
    redis_keys.LIVE_STATE_MARKER, redis_keys.DRIVERS_WATCHED))
_LAST_POSITION_PREFIX = redis_keys.USER_LAST_POSITION_PREFIX


def ingest_command(user_id, lat, lng, t, now=None):
    """One ingest script call, packed as RESP (the same command as ingest(), without redis-py's per-command
    argument packing: the constant parts are encoded once)."""
    uid = str(user_id)
    return b"".join((_INGEST_HEAD, _bulk(_LAST_POSITION_PREFIX + uid), _INGEST_KEYS_AFTER_FIRST, _bulk(uid),
                     _bulk(repr(float(lat))), _bulk(repr(float(lng))), _bulk(repr(float(t))), config().ingest_tail,
                     _bulk(repr(time.time() if now is None else float(now)))))


class LocationFlusher:
    """Batches location updates of all sockets of one event loop into one pipelined Redis round trip.

    One flush is in flight at a time; updates that arrive meanwhile (plus a short window) go in the next one.
    Each caller awaits its own result, so the socket acks only after its update reached Redis. The batch is
    written as one buffer of pre-packed EVALSHA commands on a connection of the flusher's own pool.
    """

    def __init__(self, window_s):
        self._window_s = window_s
        self._pending = []
        self._first_at = 0.0  # when the oldest update waiting for the next flush arrived
        self._task = None
        # Its own connections, bound to this event loop (one flush in flight needs one).
        self._client = aioredis.Redis.from_url(settings.LIVE_REDIS_URL, decode_responses=True, socket_connect_timeout=2,
                                               socket_timeout=None, max_connections=2)

    async def submit(self, user_id, lat, lng, t):
        future = asyncio.get_running_loop().create_future()
        if not self._pending:
            self._first_at = time.monotonic()
        self._pending.append((ingest_command(user_id, lat, lng, t), future))
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
        client = self._client
        try:
            results = await self._execute(batch)
            if any(isinstance(result, redis.exceptions.NoScriptError) for result in results):
                await client.script_load(INGEST_LUA)
                results = await self._execute(batch)
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
                future.set_result(result)

    async def _execute(self, batch):
        pool = self._client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(b"".join([command for command, _ in batch]), check_health=False)
            results = []
            for _ in batch:
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
