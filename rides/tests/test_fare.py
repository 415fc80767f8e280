from decimal import Decimal

import pytest

from locations.geo import haversine_m
from rides import fare


def test_the_contract_segment_is_1111_95_metres_and_3336_rupiah():
    distance = haversine_m(-6.2, 106.8, -6.21, 106.8)

    assert round(distance, 2) == 1111.95
    assert fare.metered_fare(distance_m=distance, surge_multiplier=Decimal("1.0")) == 3336


def test_75_percent_of_3336_charges_2502_with_fee_125_and_payout_2377():
    frozen = fare.fare_for(metered=3336, price_pct=75)

    assert (frozen.charged_amount, frozen.admin_fee, frozen.driver_payout) == (2502, 125, 2377)


def test_80_percent_of_10000_charges_8000_with_fee_400_and_payout_7600():
    frozen = fare.fare_for(metered=10_000, price_pct=80)

    assert (frozen.charged_amount, frozen.admin_fee, frozen.driver_payout) == (8000, 400, 7600)


def test_surge_multiplies_before_the_single_rounding():
    # 1 km x 3000 x 1.5 = 4500 exactly; 0.5005 km x 3000 x 1.0 = 1501.5 -> half up 1502
    assert fare.metered_fare(distance_m=1000, surge_multiplier=Decimal("1.5")) == 4500
    assert fare.metered_fare(distance_m=500.5, surge_multiplier=Decimal("1.0")) == 1502


def test_a_ride_that_never_moved_costs_nothing():
    frozen = fare.fare_for(metered=fare.metered_fare(distance_m=0, surge_multiplier=Decimal("2.0")), price_pct=100)

    assert (frozen.metered_fare, frozen.charged_amount, frozen.admin_fee, frozen.driver_payout) == (0, 0, 0, 0)


@pytest.mark.parametrize("value", [1, 50, 100])
def test_price_pct_from_1_to_100_is_valid(value):
    assert fare.is_valid_price_pct(value)


@pytest.mark.parametrize("value", [0, 101, -5, "x", "75", 75.5, None, True])
def test_price_pct_outside_1_to_100_or_not_an_integer_is_invalid(value):
    assert not fare.is_valid_price_pct(value)
