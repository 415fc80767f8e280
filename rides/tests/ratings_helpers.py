"""Givens for the ratings tests (any app): completed rides, and users who already carry ratings."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from rides.models import Ride, RideStatus
from rides.ratings import rating_create

PICKUP = (-6.2, 106.8)
DESTINATION = (-6.21, 106.8)


def make_completed_ride(*, driver=None, passenger=None, ended_at=None):
    """A ride as `ride_end` leaves it (request closed, match released, fare frozen), written directly: fast enough
    to give one user a hundred rides. Tests of the lifecycle itself end rides through the API instead."""
    driver = driver or make_driver()
    passenger = passenger or make_passenger()
    ended_at = ended_at or timezone.now()
    with transaction.atomic():
        request = RideRequest.objects.create(
            passenger=passenger,
            status=RequestStatus.CONFIRMED,
            is_open=False,
            pickup_lat=PICKUP[0],
            pickup_lng=PICKUP[1],
            destination_lat=DESTINATION[0],
            destination_lng=DESTINATION[1],
            estimate_distance_m=1112,
            estimate_amount=3336,
            surge_multiplier=Decimal("1.0"),
            batch_no=1,
            radius_m=1000,
        )
        match = Match.objects.create(
            request=request,
            driver=driver,
            status=MatchStatus.CONFIRMED,
            batch_no=1,
            distance_to_pickup_m=0,
            expires_at=ended_at,
            holds_driver=False,
        )
        return Ride.objects.create(
            request=request,
            match=match,
            driver=driver,
            passenger=passenger,
            status=RideStatus.COMPLETED,
            pickup_lat=PICKUP[0],
            pickup_lng=PICKUP[1],
            destination_lat=DESTINATION[0],
            destination_lng=DESTINATION[1],
            payment_method=request.payment_method,
            surge_multiplier=Decimal("1.0"),
            distance_m=1111.95,
            price_pct=100,
            metered_fare=3336,
            charged_amount=3336,
            admin_fee=166,
            driver_payout=3170,
            started_at=ended_at - timedelta(minutes=10),
            ended_at=ended_at,
        )


def given_ratings(user, *stars):
    """`user` receives these ratings, oldest first, each from the other side of its own completed ride."""
    for value in stars:
        if user.is_driver:
            ride = make_completed_ride(driver=user)
            rating_create(ride_id=ride.id, rater=ride.passenger, stars=value)
        else:
            ride = make_completed_ride(passenger=user)
            rating_create(ride_id=ride.id, rater=ride.driver, stars=value)
    user.refresh_from_db()
    return user


def rate(client, ride, stars=5, **extra):
    return client.post(f"/api/v1/rides/{ride.id}/rating", {"stars": stars, **extra}, format="json")


def rating_of(client):
    """The caller's own rating as /me shows it."""
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.content
    return response.json()["rating"]
