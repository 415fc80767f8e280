"""The edge wires the domains together where a lower domain needs what a higher one owns."""

from accounts.selectors import driver_is_verified, driver_vehicle_types
from locations.sources import LiveSources, live_sources_register
from matching.selectors import drivers_held_ids
from products.selectors import product_get
from rides.live_trip import arrivals_repair, live_trip_hit, live_trip_hit_async, watch_reconcile
from rides.selectors import ride_meter_reference, ride_meter_references_in_progress, rides_tracking_wanted


def live_sources_wire() -> None:
    """locations' sweeper and ingest restore read the meter (rides), the held drivers (matching), driver
    verification and vehicles (accounts) and the products' vehicle types (products) through locations.sources."""
    live_sources_register(
        LiveSources(
            meter_references_in_progress=ride_meter_references_in_progress,
            meter_reference=ride_meter_reference,
            tracking_wanted=rides_tracking_wanted,
            held_driver_ids=drivers_held_ids,
            driver_is_verified=driver_is_verified,
            live_trip_hit=live_trip_hit,
            live_trip_hit_async=live_trip_hit_async,
            watched_reconcile=watch_reconcile,
            arrivals_repair=arrivals_repair,
            driver_vehicle_types=driver_vehicle_types,
            product_vehicle_types=lambda *, code: product_get(code=code).vehicle_types,
        )
    )
