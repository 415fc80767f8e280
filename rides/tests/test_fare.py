import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.conf import settings

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
    # 1 km x 3000 x 1.5 = 4500 exactly; 1.5005 km x 3000 x 1.0 = 4501.5 -> half up 4502
    assert fare.metered_fare(distance_m=1000, surge_multiplier=Decimal("1.5")) == 4500
    assert fare.metered_fare(distance_m=1500.5, surge_multiplier=Decimal("1.0")) == 4502


def test_a_ride_that_never_moved_costs_the_minimum_fare():
    frozen = fare.fare_for(metered=fare.metered_fare(distance_m=0, surge_multiplier=Decimal("2.0")), price_pct=100)

    assert (frozen.metered_fare, frozen.charged_amount, frozen.admin_fee, frozen.driver_payout) == (
        3000,
        3000,
        150,
        2850,
    )


def test_a_ride_shorter_than_a_km_costs_the_minimum_fare():
    # 0.5005 km x 3000 = 1501.5 -> 1502, under the 3,000 minimum; surged to 1.9: 2852.85 -> 2853, still under
    assert fare.metered_fare(distance_m=500.5, surge_multiplier=Decimal("1.0")) == 3000
    assert fare.metered_fare(distance_m=500.5, surge_multiplier=Decimal("1.9")) == 3000


def test_the_minimum_fare_at_price_pct_1_still_carries_a_fee_of_1():
    # floor(3000 x 1 / 100) = 30 charged, floor(30 x 5 / 100) = floor(1.5) = 1 fee, 29 payout: a settlement moves money
    frozen = fare.fare_for(metered=fare.metered_fare(distance_m=0, surge_multiplier=Decimal("1.0")), price_pct=1)

    assert (frozen.charged_amount, frozen.admin_fee, frozen.driver_payout) == (30, 1, 29)


@pytest.mark.parametrize("minimum, starts", [(1999, False), (2000, True)])
def test_a_minimum_fare_that_leaves_no_fee_at_1_percent_is_refused_at_start_up(minimum, starts):
    # 1,999 -> 19 charged at 1 % -> fee floor(0.95) = 0: a cash ride's settlement would move nothing
    env = {**os.environ, "FARE_MINIMUM_IDR": str(minimum), "DJANGO_SETTINGS_MODULE": "nebengjek.settings"}

    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (started.returncode == 0) is starts, started.stderr[-500:]
    if not starts:
        assert "Refusing to start: FARE_MINIMUM_IDR=1999" in started.stderr


@pytest.mark.parametrize("value", [1, 50, 100])
def test_price_pct_from_1_to_100_is_valid(value):
    assert fare.is_valid_price_pct(value)


@pytest.mark.parametrize("value", [0, 101, -5, "x", "75", 75.5, None, True])
def test_price_pct_outside_1_to_100_or_not_an_integer_is_invalid(value):
    assert not fare.is_valid_price_pct(value)
