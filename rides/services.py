"""Every write to a ride: create (from matching's confirm), start, the meter, end, cancel.

Lock order (CONVENTIONS.md): request -> match -> ride. Pushes and tasks leave only after the commit.
"""
from django.db import transaction

from rides.events import ride_updated_send_on_commit
from rides.models import Ride


@transaction.atomic
def ride_create(*, request, match):
    """Create the ride for a confirmed match, status `driver_en_route`; emits `ride.updated` to both sides.

    Called by matching inside its confirm transaction with `request` and `match` already locked. Copies the
    pickup, destination, payment method and surge multiplier from the request. The caller only emits
    `match.confirmed`; this function stores and (after the commit) pushes `ride.updated`.
    """
    ride = Ride.objects.create(
        request=request,
        match=match,
        driver_id=match.driver_id,
        passenger_id=request.passenger_id,
        pickup_lat=request.pickup_lat,
        pickup_lng=request.pickup_lng,
        destination_lat=request.destination_lat,
        destination_lng=request.destination_lng,
        payment_method=request.payment_method,
        surge_multiplier=request.surge_multiplier,
    )
    ride = Ride.objects.select_related("driver__driver_profile", "passenger").get(pk=ride.pk)
    ride_updated_send_on_commit(ride)
    return ride
