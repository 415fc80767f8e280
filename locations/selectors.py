"""Reads of the live state: who is available near a point (the one answer for nearby, dispatch and surge), and
where a user was last seen."""

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings

from locations import live
from locations.geo import haversine_m, haversine_m_from
from locations.regions import regions_near
from nebengjek import redis_keys
from nebengjek.redis import get_async_redis, get_live_redis, get_live_redis_async, get_live_redis_held

# GEOSEARCH measures with its own Earth radius on ~0.6 m geohash cells: search a little wider, then keep only
# what the project's haversine puts inside the radius.
_GEO_RADIUS_SLACK = 1.001
_GEO_RADIUS_SLACK_M = 5
# Spare candidates for the exact re-sort. GEOSEARCH orders by the same haversine (another Earth radius: the same
# order) on coordinates snapped to its ~0.6 m cells, so its order differs from the exact one only among drivers
# within ~1 m of each other: 3 spare cover three such near-ties at the cut-off. Each spare costs Redis and Python
# time on every search (10 spare cost 10 % more Redis time per search at 100k drivers than 3).
_ORDER_SLACK = 3
_FIRST_RADIUS_FRACTION = 0.5  # the script searches this fraction of the radius first, widening while too few
_FIRST_RADIUS_MIN_M = 100


class NearbyDriver(NamedTuple):  # a tuple: a search makes dozens, and a frozen dataclass costs 2.4x to create
    id: str
    lat: float
    lng: float
    distance_m: float


# How a search makes its NearbyDrivers, as NamedTuple._make does but without its classmethod call (a search makes
# up to a few hundred of them: the surge quote's).
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class LivePosition:
    lat: float
    lng: float
    recorded_at: datetime


class RequesterRefused(Exception):
    """The user asking (drivers_available_near_async's `requester_id`) is in the suspended-users set, or the
    requester's sign-in session (`requester_sid`) has ended or cannot be vouched for from Redis alone."""


def drivers_available_near(
    *,
    lat: float,
    lng: float,
    radius_m: float,
    limit: int | None = None,
    exclude_ids: Iterable[Any] = (),
    vehicle_types: Iterable[str] | None = None,
) -> list[NearbyDriver]:
    """Available drivers (beacon on, position fresher than LOCATION_FRESH_SECONDS, not busy) within `radius_m`
    metres of (lat, lng), nearest first by haversine; at most `limit` (default NEARBY_MAX_RESULTS). Asks every
    region the radius touches, in one round trip per node. With `vehicle_types`, only drivers whose vehicle (as
    Redis mirrors it: drivers:vehicle) is one of them."""
    query = NearQuery(
        lat,
        lng,
        radius_m,
        limit,
        tuple(exclude_ids),
        None if vehicle_types is None else tuple(vehicle_types),
    )
    return drivers_available_near_many([query])[0]


@dataclass(frozen=True, slots=True)
class NearQuery:
    """One search of drivers_available_near_many: drivers_available_near's arguments."""

    lat: float
    lng: float
    radius_m: float
    limit: int | None = None
    exclude_ids: tuple[Any, ...] = ()
    vehicle_types: tuple[str, ...] | None = None


def drivers_available_near_many(queries: list[NearQuery]) -> list[list[NearbyDriver]]:
    """drivers_available_near for each query, all searches in one pipelined round trip (and the vehicle types of
    all their candidates in one more); the searches whose stale candidates left too few ask again together, each
    for more."""
    searches = [_Search(q.lat, q.lng, q.radius_m, q.limit, q.exclude_ids, q.vehicle_types) for q in queries]
    client = get_live_redis_held()
    answers: list[list[NearbyDriver] | None] = [None] * len(searches)
    pending = list(range(len(searches)))
    while pending:
        rounds = [(searches[index], searches[index].calls()) for index in pending]
        results = live.run([call for _, calls in rounds for call in calls], client)
        found, start = [], 0
        for search, calls in rounds:
            found.append(_merged(search, results[start : start + len(calls)]))
            start += len(calls)
        typed = [
            driver_id
            for (search, _), (ids, _) in zip(rounds, found, strict=True)
            if search.vehicles is not None
            for driver_id in ids
        ]
        vehicle_types = iter(live.hash_get_many(client, "vehicle", typed) if typed else [])
        for index, (search, _), candidates in zip(pending, rounds, found, strict=True):
            if search.vehicles is not None:
                candidates = search.of_vehicles(candidates, [next(vehicle_types) for _ in candidates[0]])
            answers[index] = search.drivers(candidates)
        pending = [index for index in pending if answers[index] is None]  # asks again with a larger `want`
    return [drivers for drivers in answers if drivers is not None]


async def drivers_available_near_async(
    *,
    lat: float,
    lng: float,
    radius_m: float,
    requester_id: Any = "",
    requester_sid: str = "",
    limit: int | None = None,
    exclude_ids: Iterable[Any] = (),
    vehicle_types: Iterable[str] | None = None,
) -> list[NearbyDriver]:
    """The event loop's twin of drivers_available_near (the fast nearby path, gateway.nearby). Raises
    RequesterRefused, from a check sent with the search, when `requester_id` is a suspended user or its token's
    sign-in session `requester_sid` ended."""
    search = _Search(lat, lng, radius_m, limit, exclude_ids, vehicle_types)
    check = None
    if requester_id or requester_sid:
        keys = [redis_keys.USERS_SUSPENDED]
        if requester_sid:
            keys += [
                redis_keys.key(redis_keys.AUTH_REVOKED_SESSION, sid=requester_sid),
                redis_keys.AUTH_REVOKED_COMPLETE,
            ]
        check = live.Call("requester", keys, [str(requester_id or "")])
    while True:
        if check is not None:
            refused, found = await asyncio.gather(
                live.run_async([check], get_async_redis()), live.run_async(search.calls())
            )
            _raise_any(refused)
            if refused[0] == -1:
                raise RequesterRefused(requester_id)
            check = None
        else:
            found = await live.run_async(search.calls())
        merged = _merged(search, found)
        if search.vehicles is not None and merged[0]:
            merged = search.of_vehicles(
                merged, await live.hash_get_many_async(get_live_redis_async(), "vehicle", merged[0])
            )
        drivers = search.drivers(merged)
        if drivers is not None:
            return drivers


def _raise_any(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result


def _merged(search: "_Search", found: list[Any]) -> Any:
    """The regions' answers as one ([ids], ["lat,lng,t"]): a driver found in two regions (a move in flight, a
    ghost not swept yet) counts once, at its latest position. Notes whether a region stopped at `want`."""
    _raise_any(found)
    search.truncated = any(len(ids) >= search.want for ids, _ in found)
    if len(found) == 1:
        return found[0]
    best: dict[str, str | None] = {}
    for ids, positions in found:
        for driver_id, position in zip(ids, positions, strict=True):
            kept = best.get(driver_id)
            if kept is None or (position is not None and _position_t(position) > _position_t(kept)):
                best[driver_id] = position
    return list(best), list(best.values())


def _position_t(position: str | None) -> float:
    if position is None:
        return float("-inf")
    parts = position.split(",")
    return float(parts[2]) if len(parts) > 2 else 0.0


class _Search:
    """One nearby search: the script's arguments, and the exact answer from the script's candidates."""

    __slots__ = (
        "lat",
        "lng",
        "radius_m",
        "limit",
        "excluded",
        "search_lat",
        "search_radius",
        "want",
        "fresh_after",
        "regions",
        "truncated",
        "vehicles",
    )

    def __init__(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        limit: int | None,
        exclude_ids: Iterable[Any],
        vehicle_types: Iterable[str] | None = None,
    ) -> None:
        self.lat, self.lng, self.radius_m = lat, lng, radius_m
        self.limit = limit or settings.NEARBY_MAX_RESULTS
        self.excluded = {str(driver_id) for driver_id in exclude_ids}
        # GEOSEARCH refuses a centre beyond the indexable latitudes: search from the nearest indexable point
        # instead, as much wider as that point is away (the haversine filter keeps the answer exact).
        self.search_lat = max(-live.GEO_MAX_LAT, min(live.GEO_MAX_LAT, lat))
        self.search_radius = radius_m + (haversine_m(lat, lng, self.search_lat, lng) if self.search_lat != lat else 0)
        self.want = self.limit + len(self.excluded) + _ORDER_SLACK
        self.fresh_after = time.time() - settings.LOCATION_FRESH_SECONDS
        self.regions = regions_near(self.search_lat, lng, self.search_radius * _GEO_RADIUS_SLACK + _GEO_RADIUS_SLACK_M)
        self.truncated = False
        self.vehicles = frozenset(vehicle_types) if vehicle_types is not None else None

    def of_vehicles(self, found: Any, types: list[Any]) -> Any:
        """The candidates with the position of a driver of another (or an unknown) vehicle type blanked: skipped
        like a missing one, so the search asks for more when too few are left. The vehicle mirror is live state
        (the drivers' buckets' slots), not the regions' slots, so it is read after the search (one HMGET per bucket,
        pipelined), not inside it."""
        ids, positions = found
        vehicles = self.vehicles or frozenset()
        return ids, [
            position if vehicle in vehicles else None for position, vehicle in zip(positions, types, strict=True)
        ]

    def args(self, requester_id: Any = "") -> list[Any]:
        return [
            repr(float(self.lng)),
            repr(float(self.search_lat)),
            self.search_radius * _GEO_RADIUS_SLACK + _GEO_RADIUS_SLACK_M,
            self.want,
            str(requester_id or ""),
            max(_FIRST_RADIUS_MIN_M, self.search_radius * _FIRST_RADIUS_FRACTION),
        ]

    def calls(self) -> list[live.Call]:
        """One search script call per region the radius touches."""
        args = self.args()
        return [live.Call("search", live.region_keys(region), args) for region in self.regions]

    def drivers(self, found: Any) -> list[NearbyDriver] | None:
        """The script's candidates ([ids], ["lat,lng,t"]) that are fresh and inside the radius by haversine,
        nearest first, at most `limit`. Sorted as plain tuples: a NearbyDriver is made only for those returned.

        None (and a larger `want` for the next call) when the script stopped at `want` candidates and stale ones
        (silent drivers the sweeper has not taken out yet) left too few to be sure of the nearest `limit`."""
        ids, positions = found
        distance_to, radius_m, excluded, fresh_after = (
            haversine_m_from(self.lat, self.lng),
            self.radius_m,
            self.excluded,
            self.fresh_after,
        )
        near, usable = [], 0
        for driver_id, position in zip(ids, positions, strict=True):
            if position is None or driver_id in excluded:
                continue
            parts = position.split(",")
            if len(parts) > 2 and float(parts[2]) <= fresh_after:  # a value without its time counts as fresh
                continue
            usable += 1
            driver_lat, driver_lng = float(parts[0]), float(parts[1])
            distance = distance_to(driver_lat, driver_lng)
            if distance <= radius_m:
                near.append((distance, driver_id, driver_lat, driver_lng))
        if self.truncated and usable < self.limit + _ORDER_SLACK:
            self.want *= 4
            return None
        near.sort()
        return [
            _new_tuple(NearbyDriver, (driver_id, driver_lat, driver_lng, distance))
            for distance, driver_id, driver_lat, driver_lng in near[: self.limit]
        ]


def driver_beacon_on(*, driver_id: UUID) -> bool:
    """True when the driver's beacon is on (the database's DriverPresence, not its Redis mirror)."""
    from locations.models import DriverPresence

    return DriverPresence.objects.filter(driver_id=driver_id, beacon_active=True).exists()


def user_last_position(*, user_id: UUID | str) -> "LivePosition | None":
    """The latest accepted position of any user (kept USER_LAST_POSITION_TTL), or None."""
    lat, lng, t = get_live_redis().hmget(live.last_position_key(user_id), "lat", "lng", "t")
    if t is None:
        return None
    return LivePosition(
        lat=float(lat),  # lat and lng are written together with t
        lng=float(lng),
        recorded_at=datetime.fromtimestamp(float(t), tz=UTC),
    )
