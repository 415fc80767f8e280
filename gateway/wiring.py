"""The edge wires the domains together where a lower domain needs what a higher one owns."""
from accounts.selectors import driver_is_verified
from locations.sources import LiveSources, live_sources_register
from matching.selectors import drivers_held_ids
from rides.live_trip import live_trip_hit, live_trip_hit_async, watch_reconcile
from rides.selectors import ride_meter_reference, ride_meter_references_in_progress, rides_tracking_wanted


def live_sources_wire() -> None:
    """locations' sweeper and ingest restore read the meter (rides), the held drivers (matching) and driver
    verification (accounts) through locations.sources."""
    live_sources_register(LiveSources(
        meter_references_in_progress=ride_meter_references_in_progress,
        meter_reference=ride_meter_reference,
        tracking_wanted=rides_tracking_wanted,
        held_driver_ids=drivers_held_ids,
        driver_is_verified=driver_is_verified,
        live_trip_hit=live_trip_hit,
        live_trip_hit_async=live_trip_hit_async,
        watched_reconcile=watch_reconcile,
    ))
