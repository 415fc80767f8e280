"""What the operations page shows: counters and the points on the map, read from Redis (live drivers) and the
database (requests, rides, today's money), and the charts' series over a time range. One snapshot is a few
queries, whatever the number of watchers."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Avg, BigIntegerField, Count, F, Func, Q, QuerySet, Sum, Value
from django.utils import timezone

from locations import live
from nebengjek.redis import get_live_redis

COORD_DIGITS = 6  # ~0.1 m: enough for a map, and a smaller message


def _round(value: Any) -> float:
    return round(float(value), COORD_DIGITS)


def ops_day_start(now: datetime | None = None) -> datetime:
    """Midnight of the operators' day (OPS_TIME_ZONE, Jakarta by default) as an aware datetime."""
    zone = ZoneInfo(settings.OPS_TIME_ZONE)
    local = (now or timezone.now()).astimezone(zone)
    return datetime.combine(local.date(), time.min, tzinfo=zone)


def live_driver_ids(*, now: datetime | None = None, limit: int | None = None) -> tuple[list[str], int, set[str]]:
    """(online ids, their count, busy ids): beacon-on drivers whose position is fresher than LOCATION_FRESH_SECONDS.
    Every bucket of the live state is read in one pipeline (one round trip per node); each gives its share of
    `limit` (drivers spread evenly over the buckets)."""
    fresh_after = (now or timezone.now()).timestamp() - settings.LOCATION_FRESH_SECONDS
    buckets = live.all_buckets()
    share = -(-(limit or settings.OPS_MAX_POINTS) // len(buckets))
    pipe = get_live_redis().pipeline(transaction=False)
    for keys in buckets:
        pipe.zrangebyscore(keys.seen, f"({fresh_after}", "+inf", start=0, num=share)
        pipe.zcount(keys.seen, f"({fresh_after}", "+inf")
        pipe.smembers(keys.busy)
    replies = pipe.execute()
    ids = [driver_id for part in replies[0::3] for driver_id in part]
    busy: set[str] = set().union(*replies[2::3])
    return ids, sum(replies[1::3]), busy


def live_drivers(*, now: datetime | None = None) -> tuple[list[list[Any]], int, int]:
    """[[id, lat, lng, busy 0|1], ...] of online drivers (at most OPS_MAX_POINTS), and the online count."""
    ids, online_count, busy = live_driver_ids(now=now)
    if not ids:
        return [], online_count, 0
    # "lat,lng,t" of beacon-on drivers, busy too
    positions = cast(list[str | None], live.hash_get_many(get_live_redis(), "position", ids))
    drivers: list[list[Any]] = []
    for driver_id, position in zip(ids, positions, strict=True):
        if position is not None:
            lat, lng = position.split(",", 2)[:2]
            drivers.append([driver_id, _round(lat), _round(lng), 1 if driver_id in busy else 0])
    busy_online = sum(row[3] for row in drivers)
    return drivers, online_count, busy_online


def _open_requests() -> list[list[Any]]:
    from matching.models import RequestStatus, RideRequest

    rows = (
        RideRequest.objects.filter(status__in=[RequestStatus.SEARCHING, RequestStatus.DRIVER_FOUND])
        .order_by("-created_at")
        .values_list("id", "pickup_lat", "pickup_lng", "status")[: settings.OPS_MAX_POINTS]
    )
    return [[str(pk), _round(lat), _round(lng), status] for pk, lat, lng, status in rows]


def _live_rides() -> list[list[Any]]:
    """Live rides at the driver's latest position (the pickup point when Redis has none)."""
    from rides.models import LIVE_RIDE_STATUSES, Ride

    rows = list(
        Ride.objects.filter(status__in=LIVE_RIDE_STATUSES)
        .order_by("-created_at")
        .values_list("id", "driver_id", "pickup_lat", "pickup_lng", "status")[: settings.OPS_MAX_POINTS]
    )
    pipe = get_live_redis().pipeline(transaction=False)
    for row in rows:
        pipe.hmget(live.last_position_key(row[1]), "lat", "lng")
    positions = pipe.execute() if rows else []
    rides = []
    for (pk, _driver, pickup_lat, pickup_lng, status), (lat, lng) in zip(rows, positions, strict=True):
        here = (lat, lng) if lat is not None else (pickup_lat, pickup_lng)
        rides.append([str(pk), _round(here[0]), _round(here[1]), status])
    return rides


def database_counters(*, now: datetime | None = None) -> dict[str, int]:
    """Searching requests, live rides and today's completed rides with their money (one query per table)."""
    from matching.models import RequestStatus, RideRequest
    from rides.models import Ride, RideStatus

    day_start = ops_day_start(now)
    searching = RideRequest.objects.filter(status=RequestStatus.SEARCHING).count()
    # created_at bounds the scan by its index: a ride that ended today began at most a day before.
    rides = Ride.objects.filter(
        Q(status__in=[RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS])
        | Q(status=RideStatus.COMPLETED, ended_at__gte=day_start, created_at__gte=day_start - timedelta(days=1))
    ).aggregate(
        en_route=Count("id", filter=Q(status=RideStatus.DRIVER_EN_ROUTE)),
        in_progress=Count("id", filter=Q(status=RideStatus.IN_PROGRESS)),
        completed_today=Count("id", filter=Q(status=RideStatus.COMPLETED)),
        gmv_today=Sum("charged_amount", filter=Q(status=RideStatus.COMPLETED)),
        revenue_today=Sum("admin_fee", filter=Q(status=RideStatus.COMPLETED)),
    )
    return {
        "searching_requests": searching,
        "rides_en_route": rides["en_route"],
        "rides_in_progress": rides["in_progress"],
        "completed_today": rides["completed_today"],
        "gmv_today": rides["gmv_today"] or 0,
        "revenue_today": rides["revenue_today"] or 0,
    }


def ops_counters(*, now: datetime | None = None) -> dict[str, int]:
    """The counters alone (for the metrics gauges when nobody watches the page)."""
    ids, online, busy = live_driver_ids(now=now)
    busy_online = sum(1 for driver_id in ids if driver_id in busy)
    return {"online_drivers": online, "available_drivers": max(0, online - busy_online), **database_counters(now=now)}


def ops_snapshot(*, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page draws: `{"at", "counters", "drivers", "requests", "rides"}`.

    Points are compact arrays: drivers `[id, lat, lng, busy]`, requests `[id, lat, lng, status]` (at the
    pickup), rides `[id, lat, lng, status]` (at the driver). Each list holds at most OPS_MAX_POINTS.
    """
    now = now or timezone.now()
    drivers, online, busy_online = live_drivers(now=now)
    counters = {
        "online_drivers": online,
        "available_drivers": max(0, online - busy_online),
        **database_counters(now=now),
    }
    return {
        "at": now.isoformat().replace("+00:00", "Z"),
        "counters": counters,
        "drivers": drivers,
        "requests": _open_requests(),
        "rides": _live_rides(),
    }


@dataclass(frozen=True)
class SeriesRange:
    name: str  # the endpoint's ?range=
    label: str  # the page's button
    buckets: int
    step_seconds: int


# Each range is a whole number of steps; the last bucket is the current, partial one.
SERIES_RANGES = {
    r.name: r
    for r in [
        SeriesRange("15m", "15 min", 15, 60),
        SeriesRange("1h", "1 h", 30, 120),
        SeriesRange("6h", "6 h", 36, 600),
        SeriesRange("24h", "24 h", 48, 1800),
    ]
}
SERIES_DEFAULT_RANGE = "1h"


class EpochSeconds(Func):
    """Whole seconds since 1970 of a datetime column: the same integer on PostgreSQL and SQLite."""

    arity = 1
    output_field = BigIntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        return self.as_sql(
            compiler, connection, template="FLOOR(EXTRACT(EPOCH FROM %(expressions)s))::bigint", **extra_context
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, Any]:
        # The format goes as a parameter: a literal %s in the SQL would read as a placeholder.
        as_text = Func(Value("%s"), *self.get_source_expressions(), function="strftime")
        return Func(as_text, template="CAST(%(expressions)s AS INTEGER)", output_field=BigIntegerField()).as_sql(
            compiler, connection, **extra_context
        )


def _bucket_index(column: Any, *, start_epoch: int, step_seconds: int) -> Any:
    """Which bucket a row falls in: integer division of its age since the range's start (rows are never earlier)."""
    return (EpochSeconds(column) - Value(start_epoch)) / Value(step_seconds)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _bucketed(
    queryset: QuerySet[Any], column: str, *, start: datetime, end: datetime, step_seconds: int, **aggregates: Any
) -> dict[int, dict[str, Any]]:
    """{bucket index: {aggregate: value}} of the rows whose `column` lies in [start, end)."""
    rows = (
        queryset.filter(**{f"{column}__gte": start, f"{column}__lt": end})
        .order_by()
        .annotate(bucket=_bucket_index(F(column), start_epoch=int(start.timestamp()), step_seconds=step_seconds))
        .values("bucket")
        .annotate(**aggregates)
    )
    return {row.pop("bucket"): row for row in rows}


def ops_series(*, range_name: str = SERIES_DEFAULT_RANGE, now: datetime | None = None) -> dict[str, Any]:
    """The charts over the last `range_name` (a key of SERIES_RANGES), one value per bucket, oldest first.

    `requests`: ride requests made; `completed`: rides that ended completed; `match_rate`: the share of that
    bucket's requests that became a ride (null without requests; a recent request may still be searching);
    `mean_pickup_m`: mean distance from driver to pickup of the proposals confirmed into a ride then (null
    without any). Three aggregate queries, bucketed in the database.
    """
    from matching.models import RideRequest
    from rides.models import Ride, RideStatus

    chosen = SERIES_RANGES[range_name]
    step = chosen.step_seconds
    now = (now or timezone.now()).astimezone(UTC)
    current = int(now.timestamp()) // step * step  # steps aligned on the epoch: a bucket keeps its bounds
    start = datetime.fromtimestamp(current - (chosen.buckets - 1) * step, tz=UTC)
    end = datetime.fromtimestamp(current + step, tz=UTC)
    window: dict[str, Any] = {"start": start, "end": end, "step_seconds": step}

    requests = _bucketed(
        RideRequest.objects.all(),
        "created_at",
        **window,
        made=Count("id", distinct=True),
        matched=Count("id", filter=Q(rides__isnull=False), distinct=True),
    )
    # created_at bounds the scan by its index, as for today's counters.
    completed = _bucketed(
        Ride.objects.filter(status=RideStatus.COMPLETED, created_at__gte=start - timedelta(days=1)),
        "ended_at",
        **window,
        n=Count("id"),
    )
    confirmed = _bucketed(Ride.objects.all(), "created_at", **window, pickup_m=Avg("match__distance_to_pickup_m"))

    series: dict = {
        "range": chosen.name,
        "step_seconds": step,
        "from": _iso(start),
        "to": _iso(now),
        "buckets": [],
        "requests": [],
        "completed": [],
        "match_rate": [],
        "mean_pickup_m": [],
    }
    for index in range(chosen.buckets):
        made = requests.get(index, {}).get("made", 0)
        pickup_m = confirmed.get(index, {}).get("pickup_m")
        series["buckets"].append(_iso(start + timedelta(seconds=index * step)))
        series["requests"].append(made)
        series["completed"].append(completed.get(index, {}).get("n", 0))
        series["match_rate"].append(round(requests[index]["matched"] / made, 4) if made else None)
        series["mean_pickup_m"].append(None if pickup_m is None else round(pickup_m))
    return series
