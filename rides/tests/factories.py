"""Consistent rides for tests (any app): a confirmed ride (request + match + ride, `driver_en_route`) and one
in progress, both made through the real services so events, Redis state and tracking are what production has."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from locations.services import driver_busy_set
from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from rides import services

PICKUP = (-6.2, 106.8)
DESTINATION = (-6.21, 106.8)


def make_confirmed_ride(
    *,
    driver=None,
    passenger=None,
    pickup=PICKUP,
    destination=DESTINATION,
    payment_method="cash",
    surge_multiplier=Decimal("1.0"),
    estimate_amount=3336,
):
    """A RideRequest (confirmed, open) + its Match (confirmed, holding the driver) + the Ride (driver_en_route)."""
    driver = driver or make_driver()
    passenger = passenger or make_passenger()
    with transaction.atomic():
        request = RideRequest.objects.create(
            passenger=passenger,
            status=RequestStatus.CONFIRMED,
            pickup_lat=pickup[0],
            pickup_lng=pickup[1],
            destination_lat=destination[0],
            destination_lng=destination[1],
            payment_method=payment_method,
            estimate_distance_m=1112,
            estimate_amount=estimate_amount,
            surge_multiplier=surge_multiplier,
            batch_no=1,
            radius_m=1000,
        )
        match = Match.objects.create(
            request=request,
            driver=driver,
            status=MatchStatus.CONFIRMED,
            batch_no=1,
            distance_to_pickup_m=0,
            expires_at=timezone.now() + timedelta(seconds=15),
            responded_at=timezone.now(),
        )
        ride = services.ride_create(request=request, match=match)
    driver_busy_set(driver_id=driver.pk, busy=True)  # as matching does when the driver accepts
    return ride


def make_in_progress_ride(*, start_at=None, **kwargs):
    """A confirmed ride started by its driver at `start_at` (default the pickup), the way the app does it:
    the driver's position goes through locations, then the driver starts. Its track has one point there."""
    from locations.services import location_ingest

    ride = make_confirmed_ride(**kwargs)
    lat, lng = start_at or (ride.pickup_lat, ride.pickup_lng)
    location_ingest(user=ride.driver, lat=lat, lng=lng)
    return services.ride_start(ride=ride, user=ride.driver)
