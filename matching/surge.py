"""Surge pricing from supply and demand around the pickup, on H3 cells (../shared/API.md "Fare").

The area is the pickup's H3 cell (settings.SURGE_H3_RESOLUTION) and its ring of neighbours. Demand is the open
requests made there in the last SURGE_DEMAND_WINDOW_SECONDS, counting the one being made; supply is the available
drivers there now. Supply >= demand (or demand below SURGE_MIN_DEMAND) -> 1.0; otherwise one SURGE_STEP per
SURGE_EXCESS_RATIO_PER_STEP of (demand - supply) / supply, capped at SURGE_MAX_MULTIPLIER (no supply -> the cap).
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor

import h3
from django.conf import settings

from locations.selectors import drivers_available_near
from matching.models import RequestStatus, RideRequest

NO_SURGE = Decimal("1.0")
OPEN_STATUSES = [RequestStatus.SEARCHING, RequestStatus.DRIVER_FOUND]


@dataclass(frozen=True)
class SurgeQuote:
    cell: str
    supply: int
    demand: int
    multiplier: Decimal
    # The available drivers the supply search found (nearest first, up to SURGE_SUPPLY_MAX_COUNT within
    # SURGE_SUPPLY_SEARCH_RADIUS_M): the request's first batch is picked from them without a second search.
    nearby: tuple = field(default=(), compare=False, repr=False)


def surge_cell(*, lat, lng):
    return h3.latlng_to_cell(lat, lng, settings.SURGE_H3_RESOLUTION)


def surge_quote(*, lat, lng, now, product=None, vehicle_types=None):
    """The multiplier for a request for `product` made now at (lat, lng), with the inputs that explain it: demand is
    that product's open requests, supply the available drivers whose vehicle serves it (`vehicle_types`)."""
    cell = surge_cell(lat=lat, lng=lng)
    if not settings.SURGE_ENABLED:
        return SurgeQuote(cell=cell, supply=0, demand=0, multiplier=NO_SURGE)
    area = set(h3.grid_disk(cell, settings.SURGE_H3_RING))
    demand = (
        _open_requests_in(area, since=now - timedelta(seconds=settings.SURGE_DEMAND_WINDOW_SECONDS), product=product)
        + 1
    )
    nearby = _available_drivers_near(lat=lat, lng=lng, vehicle_types=vehicle_types)
    supply = _count_in(area, nearby)
    return SurgeQuote(
        cell=cell,
        supply=supply,
        demand=demand,
        multiplier=surge_multiplier(supply=supply, demand=demand),
        nearby=tuple(nearby),
    )


def surge_multiplier(*, supply, demand):
    """1.0 when supply meets demand, rising in SURGE_STEP steps with the excess demand, at most the cap."""
    cap = Decimal(settings.SURGE_MAX_MULTIPLIER)
    if demand <= supply or demand < settings.SURGE_MIN_DEMAND:
        return NO_SURGE
    if supply == 0:
        return cap
    excess = Fraction(demand - supply, supply)
    steps = floor(excess / Fraction(settings.SURGE_EXCESS_RATIO_PER_STEP))
    return min(cap, NO_SURGE + Decimal(settings.SURGE_STEP) * steps)


def _open_requests_in(area, *, since, product=None):
    rows = RideRequest.objects.filter(surge_cell__in=area, created_at__gte=since, status__in=OPEN_STATUSES)
    if product is not None:
        rows = rows.filter(product=product)
    return rows.count()


def _available_drivers_near(*, lat, lng, vehicle_types=None):
    return drivers_available_near(
        lat=lat,
        lng=lng,
        radius_m=settings.SURGE_SUPPLY_SEARCH_RADIUS_M,
        limit=settings.SURGE_SUPPLY_MAX_COUNT,
        vehicle_types=vehicle_types,
    )


def _count_in(area, nearby):
    resolution = settings.SURGE_H3_RESOLUTION
    return sum(1 for driver in nearby if h3.latlng_to_cell(driver.lat, driver.lng, resolution) in area)


def nearest_from_quote(quote, *, radius_m, exclude, limit):
    """The `limit` nearest drivers within `radius_m` not in `exclude`, from the quote's supply search, or None when
    that search cannot tell (radius beyond it, or it stopped at its cap before `radius_m` with too few found)."""
    if not quote.nearby or radius_m > settings.SURGE_SUPPLY_SEARCH_RADIUS_M:
        return None
    found = [driver for driver in quote.nearby if driver.distance_m <= radius_m and driver.id not in exclude][:limit]
    complete = len(quote.nearby) < settings.SURGE_SUPPLY_MAX_COUNT or quote.nearby[-1].distance_m > radius_m
    return found if len(found) == limit or complete else None
