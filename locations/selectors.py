"""Reads of the live state: who is available near a point (the one answer for nearby, dispatch and surge), and
where a user was last seen."""
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone

from locations import live
from locations.geo import haversine_m
from nebengjek import redis_keys
from nebengjek.redis import get_redis

# GEOSEARCH measures with its own Earth radius on ~0.6 m geohash cells: search a little wider, then keep only
# what the project's haversine puts inside the radius.
_GEO_RADIUS_SLACK = 1.001
_GEO_RADIUS_SLACK_M = 5
_ORDER_SLACK = 10  # extra candidates fetched so the exact re-sort cannot miss a near one


@dataclass(frozen=True, slots=True)
class NearbyDriver:
    id: str
    lat: float
    lng: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class LivePosition:
    lat: float
    lng: float
    recorded_at: datetime


def drivers_available_near(*, lat, lng, radius_m, limit=None, exclude_ids=()):
    """Available drivers (beacon on, position fresher than LOCATION_FRESH_SECONDS, not busy) within `radius_m`
    metres of (lat, lng), nearest first by haversine; at most `limit` (default NEARBY_MAX_RESULTS)."""
    limit = limit or settings.NEARBY_MAX_RESULTS
    excluded = {str(driver_id) for driver_id in exclude_ids}
    fresh_after = timezone.now().timestamp() - settings.LOCATION_FRESH_SECONDS
    # GEOSEARCH refuses a centre beyond the indexable latitudes: search from the nearest indexable point instead,
    # as much wider as that point is away (the haversine filter below keeps the answer exact).
    search_lat = max(-live.GEO_MAX_LAT, min(live.GEO_MAX_LAT, lat))
    search_radius = radius_m + haversine_m(lat, lng, search_lat, lng)
    found = live.script("search")(
        keys=[redis_keys.DRIVERS_GEO, redis_keys.DRIVERS_BUSY, redis_keys.DRIVERS_BEACON],
        args=[repr(float(lng)), repr(float(search_lat)), search_radius * _GEO_RADIUS_SLACK + _GEO_RADIUS_SLACK_M,
              repr(fresh_after), limit + len(excluded) + _ORDER_SLACK, redis_keys.USER_LAST_POSITION_PREFIX],
    )
    drivers = []
    for i in range(0, len(found), 3):
        driver_id, driver_lat, driver_lng = found[i], float(found[i + 1]), float(found[i + 2])
        distance = haversine_m(lat, lng, driver_lat, driver_lng)
        if driver_id not in excluded and distance <= radius_m:
            drivers.append(NearbyDriver(id=driver_id, lat=driver_lat, lng=driver_lng, distance_m=distance))
    drivers.sort(key=lambda driver: driver.distance_m)
    return drivers[:limit]


def user_last_position(*, user_id):
    """The latest accepted position of any user (kept USER_LAST_POSITION_TTL), or None."""
    lat, lng, t = get_redis().hmget(live.last_position_key(user_id), "lat", "lng", "t")
    if t is None:
        return None
    return LivePosition(lat=float(lat), lng=float(lng),
                        recorded_at=datetime.fromtimestamp(float(t), tz=dt_timezone.utc))
