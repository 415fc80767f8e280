"""The live index in Redis: Lua scripts that keep each step atomic, and their key/argument builders.

Every location update is one script call (filter + latest position + GEO index + ride track), so a socket
process can send a whole batch of them in one pipelined round trip (LocationFlusher). Times are passed in from
Python (never Redis' clock) so that tests can control them.
"""
import asyncio
import hashlib
import logging
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

from nebengjek import redis_keys
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

# Result codes of the ingest script.
ACCEPTED = 1
DROPPED_OUT_OF_ORDER = 2
DROPPED_TOO_FAST = 3
DROP_REASONS = {DROPPED_OUT_OF_ORDER: "out_of_order", DROPPED_TOO_FAST: "too_fast"}

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

# KEYS: last position, geo, seen, beacon, tracking, track stream
# ARGV: user id, lat, lng, t, max speed m/s, last-position TTL, stream maxlen
INGEST_LUA = _GEO_MAX_LAT_LUA + _HAVERSINE_LUA + """
local uid = ARGV[1]
local lat, lng, t = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prev = redis.call('HMGET', KEYS[1], 'lat', 'lng', 't')
if prev[3] then
  local pt = tonumber(prev[3])
  if t < pt then return 2 end
  local d = haversine(tonumber(prev[1]), tonumber(prev[2]), lat, lng)
  if d > 0 and (t <= pt or d / (t - pt) > tonumber(ARGV[5])) then return 3 end
end
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if math.abs(lat) <= GEO_MAX_LAT and redis.call('SISMEMBER', KEYS[4], uid) == 1 then
  redis.call('GEOADD', KEYS[2], lng, lat, uid)
  redis.call('ZADD', KEYS[3], t, uid)
end
local ride = redis.call('HGET', KEYS[5], uid)
if ride then
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[7], '*',
             'ride_id', ride, 'driver_id', uid, 'lat', ARGV[2], 'lng', ARGV[3], 't', ARGV[4])
end
return 1
"""

# KEYS: beacon, last position, geo, seen.  ARGV: driver id, "1"|"0"
BEACON_LUA = _GEO_MAX_LAT_LUA + """
local uid = ARGV[1]
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[1], uid)
  local p = redis.call('HMGET', KEYS[2], 'lat', 'lng', 't')
  if p[3] and math.abs(tonumber(p[1])) <= GEO_MAX_LAT then
    redis.call('GEOADD', KEYS[3], p[2], p[1], uid)
    redis.call('ZADD', KEYS[4], p[3], uid)
  end
else
  redis.call('SREM', KEYS[1], uid)
  redis.call('ZREM', KEYS[3], uid)
  redis.call('ZREM', KEYS[4], uid)
end
return 1
"""

# KEYS: geo, busy, beacon.  ARGV: lng, lat, radius m, fresher-than t, wanted count, last-position key prefix
# Returns a flat list id, lat, lng (exact stored coordinates) of available drivers, about nearest first.
SEARCH_LUA = """
local ids = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm', 'ASC')
local min_t, want = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for _, id in ipairs(ids) do
  if redis.call('SISMEMBER', KEYS[2], id) == 0 and redis.call('SISMEMBER', KEYS[3], id) == 1 then
    local p = redis.call('HMGET', ARGV[6] .. id, 'lat', 'lng', 't')
    if p[3] and tonumber(p[3]) > min_t then
      out[#out + 1] = id
      out[#out + 1] = p[1]
      out[#out + 1] = p[2]
      if #out >= want * 3 then break end
    end
  end
end
return out
"""

# KEYS: geo, seen.  ARGV: stale-at-or-before t.  Returns the ids taken out of the index.
SWEEP_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for i = 1, #stale, 500 do
  local chunk = {unpack(stale, i, math.min(i + 499, #stale))}
  redis.call('ZREM', KEYS[1], unpack(chunk))
  redis.call('ZREM', KEYS[2], unpack(chunk))
end
return stale
"""

_SCRIPTS = {"ingest": INGEST_LUA, "beacon": BEACON_LUA, "search": SEARCH_LUA, "sweep": SWEEP_LUA}
_registered = {}


def script(name):
    """The registered (EVALSHA, loads on NOSCRIPT) synchronous script `name`."""
    registered = _registered.get(name)
    if registered is None:
        registered = _registered[name] = get_redis().register_script(_SCRIPTS[name])
    return registered


def last_position_key(user_id):
    return redis_keys.key(redis_keys.USER_LAST_POSITION, user_id=user_id)


def max_speed_mps():
    return settings.LOCATION_MAX_SPEED_KMH / 3.6


def ingest_keys_args(user_id, lat, lng, t):
    keys = [last_position_key(user_id), redis_keys.DRIVERS_GEO, redis_keys.DRIVERS_SEEN, redis_keys.DRIVERS_BEACON,
            redis_keys.DRIVERS_TRACKING, redis_keys.RIDE_TRACK_STREAM]
    args = [str(user_id), repr(float(lat)), repr(float(lng)), repr(float(t)), repr(max_speed_mps()),
            redis_keys.USER_LAST_POSITION_TTL, redis_keys.RIDE_TRACK_STREAM_MAXLEN]
    return keys, args


def ingest(user_id, lat, lng, t):
    """Run the ingest script once (sync); returns ACCEPTED or a DROPPED_* code."""
    keys, args = ingest_keys_args(user_id, lat, lng, t)
    return script("ingest")(keys=keys, args=args)


class LocationFlusher:
    """Batches location updates of all sockets of one event loop into one pipelined Redis round trip.

    One flush is in flight at a time; updates that arrive meanwhile (plus a short window) go in the next one.
    Each caller awaits its own result, so the socket acks only after its update reached Redis.
    """

    def __init__(self, window_s):
        self._window_s = window_s
        self._pending = []
        self._task = None
        self._sha = hashlib.sha1(INGEST_LUA.encode()).hexdigest()
        # Its own connection, bound to this event loop (one flush in flight needs no more).
        self._client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_connect_timeout=2,
                                               socket_timeout=None, max_connections=2)

    async def submit(self, user_id, lat, lng, t):
        future = asyncio.get_running_loop().create_future()
        self._pending.append((ingest_keys_args(user_id, lat, lng, t), future))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self):
        try:
            while self._pending:
                if self._window_s:
                    await asyncio.sleep(self._window_s)
                batch, self._pending = self._pending, []
                await self._flush(batch)
        finally:
            self._task = None

    async def _flush(self, batch):
        client = self._client
        try:
            results = await self._execute(client, batch)
            if any(isinstance(result, redis.exceptions.NoScriptError) for result in results):
                await client.script_load(INGEST_LUA)
                results = await self._execute(client, batch)
        except Exception as exc:  # Redis down: every waiting socket answers service_unavailable
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, client, batch):
        pipe = client.pipeline(transaction=False)
        for (keys, args), _ in batch:
            pipe.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)


_flushers = weakref.WeakKeyDictionary()


def flusher():
    """The LocationFlusher of the running event loop (one per server process in production)."""
    loop = asyncio.get_running_loop()
    current = _flushers.get(loop)
    if current is None:
        current = _flushers[loop] = LocationFlusher(settings.LOCATION_FLUSH_WINDOW_MS / 1000)
    return current
