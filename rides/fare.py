"""The fare formula (../shared/API.md "Fare"), pure: integer rupiah out, rounded once at each documented step.

metered_fare   = max(FARE_MINIMUM_IDR, round_half_up(distance_m / 1000 × rate_per_km × surge))
charged_amount = floor(metered_fare × price_pct / 100)
admin_fee      = floor(charged_amount × fee_pct / 100)
driver_payout  = charged_amount − admin_fee
"""
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

PRICE_PCT_MIN = 1
PRICE_PCT_MAX = 100


@dataclass(frozen=True)
class Fare:
    metered_fare: int
    price_pct: int
    charged_amount: int
    admin_fee: int
    driver_payout: int


def metered_fare(*, distance_m, surge_multiplier, rate_per_km=None, minimum=None) -> int:
    """IDR for the metered distance, never below the minimum fare (the request's estimate uses it too); the float
    metres become a Decimal exactly, then one half-up rounding."""
    rate = Decimal(rate_per_km if rate_per_km is not None else settings.RIDE_FARE_PER_KM_IDR)
    amount = Decimal(repr(float(distance_m))) / 1000 * rate * Decimal(str(surge_multiplier))
    floor = minimum if minimum is not None else settings.FARE_MINIMUM_IDR
    return max(floor, int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP)))



def charged_amount(*, metered, price_pct):
    return metered * price_pct // 100


def admin_fee(*, charged, fee_pct=None):
    pct = fee_pct if fee_pct is not None else settings.RIDE_ADMIN_FEE_PCT
    return charged * pct // 100


def is_valid_price_pct(value):
    return isinstance(value, int) and not isinstance(value, bool) and PRICE_PCT_MIN <= value <= PRICE_PCT_MAX


def fare_for(*, metered, price_pct, fee_pct=None):
    """The frozen money of a ride from its metered fare and the driver's chosen percentage."""
    charged = charged_amount(metered=metered, price_pct=price_pct)
    fee = admin_fee(charged=charged, fee_pct=fee_pct)
    return Fare(metered_fare=metered, price_pct=price_pct, charged_amount=charged, admin_fee=fee,
                driver_payout=charged - fee)
