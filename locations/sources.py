"""What the live state is re-derived from that locations does not own: the meter's durable points (rides), the
drivers held by a match (matching), whether a driver is verified and their vehicle type (accounts), which
vehicle types serve a product (products), and where a watched driver's position goes (rides' live trip).

locations sits below those domains and never imports them; the edge app registers the providers once Django is
ready (gateway.apps), so the sweeper and the ingest's restore ask through this seam.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured


class MeterReference(Protocol):
    """A ride's last accepted point: what the next position of its driver is judged against."""

    @property
    def ride_id(self) -> str: ...

    @property
    def driver_id(self) -> str: ...

    @property
    def lat(self) -> float: ...

    @property
    def lng(self) -> float: ...

    @property
    def recorded_at(self) -> datetime: ...


@dataclass(frozen=True)
class LiveSources:
    meter_references_in_progress: Callable[[], Sequence[MeterReference]]
    meter_reference: Callable[..., MeterReference | None]  # (*, ride_id, driver_id); locks the ride's row
    tracking_wanted: Callable[..., dict[str, str]]  # (*, lock_ride_ids=None) -> driver id -> ride id
    held_driver_ids: Callable[[Iterable[str] | None], set[str]]  # drivers a match holds (of `ids`, or all)
    driver_is_verified: Callable[..., bool]  # (*, user_id, lock=False)
    driver_vehicle_types: Callable[..., dict[str, str]]  # (*, driver_ids) -> driver id -> vehicle type (accounts)
    # (*, code) -> the vehicle types serving a product (products' cached catalogue); raises its unknown_product
    product_vehicle_types: Callable[..., frozenset[str]]
    # The live trip (rides): a watched driver's accepted position whose push or arrival is due, from the ingest
    # script's list answer (sync callers, and the socket's event loop: returns at once), and the sweeper's repair.
    live_trip_hit: Callable[..., None]  # (result, *, lat, lng, t)
    live_trip_hit_async: Callable[..., None]  # (result, *, lat, lng, t)
    watched_reconcile: Callable[[], int]
    arrivals_repair: Callable[[], int]  # arrivals the ingest flagged whose database write was lost; returns recorded


_registered: list[LiveSources] = []


def live_sources_register(sources: LiveSources) -> None:
    """Called by the edge app when Django is ready; a second call replaces the first."""
    _registered[:] = [sources]


def live_sources() -> LiveSources:
    if not _registered:
        raise ImproperlyConfigured("locations' live sources are not registered: is 'gateway' in INSTALLED_APPS?")
    return _registered[0]
