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
    return Fare(
        metered_fare=metered, price_pct=price_pct, charged_amount=charged, admin_fee=fee, driver_payout=charged - fee
    )


# --- itemised fares under a product's fare policy (products.terms.FareTerms) ----------------------------------


@dataclass(frozen=True)
class FareLines:
    """Every line of a fare, integer rupiah; `metered_fare` is their sum. Rounding (docs/products.md):
    base as stored; distance = round_half_up(km x per_km); time_of_day and surge are the differences of
    round_half_up of the running product, so the trip fare is rounded once as the contract's formula;
    minimum_top_up = max(0, minimum − trip); waiting = waiting_per_minute x whole minutes past the free window."""

    product: str
    policy_version: int
    base: int
    distance: int
    time_of_day: int
    time_multiplier: Decimal
    surge: int
    surge_multiplier: Decimal
    minimum_top_up: int
    waiting: int
    waiting_minutes: int

    @property
    def metered_fare(self) -> int:
        return self.base + self.distance + self.time_of_day + self.surge + self.minimum_top_up + self.waiting

    def as_dict(self) -> dict:
        return {
            "product": self.product,
            "policy_version": self.policy_version,
            "base": self.base,
            "distance": self.distance,
            "time_of_day": self.time_of_day,
            "time_multiplier": float(self.time_multiplier),
            "surge": self.surge,
            "surge_multiplier": float(self.surge_multiplier),
            "minimum_top_up": self.minimum_top_up,
            "waiting": self.waiting,
            "waiting_minutes": self.waiting_minutes,
            "metered_fare": self.metered_fare,
        }


def _half_up(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def waiting_minutes(*, waited_seconds: float | None) -> int:
    """Whole minutes waited past settings.FREE_WAITING_SECONDS (0 when the driver never arrived)."""
    if not waited_seconds:
        return 0
    return max(0, int((waited_seconds - settings.FREE_WAITING_SECONDS) // 60))


def fare_lines(*, terms, distance_m, surge_multiplier, at=None, waited_seconds=None) -> FareLines:
    """The itemised metered fare of `distance_m` under `terms` (a FareTerms), the surge fixed at the request, the
    time-of-day window of `at` (the request's time), and the waiting at the pickup. With the default bike policy
    (base 0, 3,000/km, minimum 3,000, no windows) and no waiting, metered_fare equals `metered_fare()`."""
    km = Decimal(repr(float(distance_m))) / 1000
    surge = Decimal(str(surge_multiplier))
    tod = terms.time_multiplier_at(at)
    exact = Decimal(terms.base_fare) + km * Decimal(terms.per_km)
    distance = _half_up(km * Decimal(terms.per_km))
    with_time = _half_up(exact * tod)
    trip = _half_up(exact * tod * surge)
    minutes = waiting_minutes(waited_seconds=waited_seconds)
    return FareLines(
        product=terms.product,
        policy_version=terms.version,
        base=terms.base_fare,
        distance=distance,
        time_of_day=with_time - terms.base_fare - distance,
        time_multiplier=tod,
        surge=trip - with_time,
        surge_multiplier=surge,
        minimum_top_up=max(0, terms.minimum_fare - trip),
        waiting=minutes * terms.waiting_per_minute,
        waiting_minutes=minutes,
    )
