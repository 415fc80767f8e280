"""Surge from supply and demand in the pickup's H3 cell and its neighbours, fixed on the request."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from matching.models import RideRequest
from matching.surge import surge_cell, surge_multiplier
from matching.tests.helpers import PICKUP, ask_for_ride, driver_online, make_passenger


@pytest.mark.parametrize(
    "supply, demand, expected",
    [
        (3, 3, "1.0"),  # supply meets demand
        (5, 2, "1.0"),
        (0, 1, "1.0"),  # a lone request is not a rush
        (4, 5, "1.1"),  # 25 % more demand than supply: one step
        (2, 3, "1.2"),  # 50 %
        (1, 2, "1.4"),  # twice the supply
        (2, 7, "2.0"),  # capped
        (0, 2, "2.0"),  # demand and no supply at all
    ],
)
def test_the_multiplier_rises_in_tenths_with_excess_demand_up_to_2(supply, demand, expected):
    assert surge_multiplier(supply=supply, demand=demand) == Decimal(expected)


def open_requests_in_the_pickup_cell(count, **fields):
    """Other passengers' open requests around the pickup (already dispatched or not: they count as demand)."""
    for _ in range(count):
        RideRequest.objects.create(
            passenger=make_passenger(),
            pickup_lat=PICKUP[0],
            pickup_lng=PICKUP[1],
            destination_lat=-6.21,
            destination_lng=106.8,
            estimate_distance_m=1112,
            estimate_amount=3336,
            surge_cell=surge_cell(lat=PICKUP[0], lng=PICKUP[1]),
            **fields,
        )


def test_more_open_requests_than_free_drivers_around_the_pickup_raise_the_price(client_for):
    for metres in (100, 200, 300, 400):
        driver_online(metres)
    open_requests_in_the_pickup_cell(4)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["surge"]["supply"] == 4 and body["surge"]["demand"] == 5
    assert body["fare_estimate"]["surge_multiplier"] == 1.1
    assert body["fare_estimate"]["amount"] == 3669  # 1,111.95 m × 3 × 1.1 = 3,669.4


def test_drivers_outside_the_neighbouring_cells_are_not_supply(client_for):
    driver_online(2400)  # within the supply search, outside the ring of cells around the pickup
    open_requests_in_the_pickup_cell(1)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["surge"]["supply"] == 0
    assert body["fare_estimate"]["surge_multiplier"] == 2.0


def test_requests_older_than_the_demand_window_do_not_count(client_for):
    with time_machine.travel(timezone.now() - timedelta(minutes=6), tick=False):
        open_requests_in_the_pickup_cell(3)
    driver_online(300)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["surge"]["demand"] == 1
    assert body["fare_estimate"]["surge_multiplier"] == 1.0


def test_closed_requests_are_not_demand(client_for):
    open_requests_in_the_pickup_cell(3, status="cancelled", is_open=False)
    driver_online(300)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["surge"]["demand"] == 1


def test_the_surge_is_fixed_on_the_request_when_it_is_made(client_for):
    open_requests_in_the_pickup_cell(1)
    client = client_for(make_passenger())
    request = ask_for_ride(client)
    for metres in (100, 200, 300):
        driver_online(metres)

    body = client.get(f"/api/v1/rides/requests/{request['id']}").json()

    assert body["fare_estimate"]["surge_multiplier"] == 2.0
    assert body["fare_estimate"]["amount"] == 6672


def test_surge_can_be_switched_off(client_for, settings):
    settings.SURGE_ENABLED = False
    open_requests_in_the_pickup_cell(5)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["fare_estimate"]["surge_multiplier"] == 1.0
