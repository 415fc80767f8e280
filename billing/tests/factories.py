"""Completed rides with frozen fares, built directly (the rides app's lifecycle is tested there)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from rides.models import Ride, RideStatus

PICKUP = (-6.2, 106.8)
DESTINATION = (-6.21, 106.8)


def contract_amounts(metered_fare, price_pct):
    """../shared/API.md "Fare": charged = floor(fare × pct / 100), fee = floor(charged × 5 / 100)."""
    charged = metered_fare * price_pct // 100
    fee = charged * 5 // 100
    return {"charged_amount": charged, "admin_fee": fee, "driver_payout": charged - fee}


def make_completed_ride(
    *,
    metered_fare=3336,
    price_pct=100,
    payment_method="cash",
    driver=None,
    passenger=None,
    ended_at=None,
    surge_multiplier="1.0",
    surge_cell="8a8c0d",
    surge_supply=4,
    surge_demand=4,
    distance_m=1111.95,
    status=RideStatus.COMPLETED,
    **frozen,
):
    """A ride as rides.services leaves it at the end: request and match closed, fare frozen.

    `frozen` may set charged_amount / admin_fee / driver_payout explicitly; otherwise the contract formula."""
    driver = driver or make_driver()
    passenger = passenger or make_passenger()
    now = timezone.now()
    request = RideRequest.objects.create(
        passenger=passenger,
        status=RequestStatus.CONFIRMED,
        is_open=False,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=DESTINATION[0],
        destination_lng=DESTINATION[1],
        payment_method=payment_method,
        estimate_distance_m=round(distance_m),
        estimate_amount=metered_fare,
        surge_multiplier=Decimal(surge_multiplier),
        surge_cell=surge_cell,
        surge_supply=surge_supply,
        surge_demand=surge_demand,
    )
    match = Match.objects.create(
        request=request,
        driver=driver,
        status=MatchStatus.CONFIRMED,
        batch_no=1,
        distance_to_pickup_m=300,
        expires_at=now,
        holds_driver=False,
    )
    fare = (
        {"price_pct": price_pct, "metered_fare": metered_fare, **contract_amounts(metered_fare, price_pct), **frozen}
        if status == RideStatus.COMPLETED
        else {}
    )
    return Ride.objects.create(
        request=request,
        match=match,
        driver=driver,
        passenger=passenger,
        status=status,
        pickup_lat=PICKUP[0],
        pickup_lng=PICKUP[1],
        destination_lat=DESTINATION[0],
        destination_lng=DESTINATION[1],
        payment_method=payment_method,
        surge_multiplier=Decimal(surge_multiplier),
        distance_m=distance_m,
        started_at=now - timedelta(minutes=10),
        ended_at=(ended_at or now) if status == RideStatus.COMPLETED else None,
        **fare,
    )


def entries_by_party(txn, *, ride=None):
    """{"passenger"|"driver"|"platform"|"clearing"|<user id>: (kind, amount)} for one ledger transaction."""
    names = {}
    if ride is not None:
        names = {ride.passenger_id: "passenger", ride.driver_id: "driver"}
    result = {}
    for entry in txn.entries.select_related("account"):
        account = entry.account
        party = (
            names.get(account.user_id, account.user_id)
            if account.user_id
            else {"platform_revenue": "platform", "gateway_clearing": "clearing"}[account.kind]
        )
        result[party] = (entry.kind, entry.amount)
    return result
