"""The itemised fare (rides.fare.fare_lines): each line's rounding, and the contract's numbers under the built-in
bike terms."""

from datetime import UTC, datetime
from decimal import Decimal

from products.terms import FareTerms, time_multipliers_parse
from rides import fare

BIKE = FareTerms(product="bike", version=0, base_fare=0, per_km=3000, minimum_fare=3000, waiting_per_minute=300)
CONTRACT_SEGMENT_M = 1111.9508


def test_the_bike_lines_give_the_contract_fare_and_equal_the_plain_formula():
    for distance, surge in [
        (CONTRACT_SEGMENT_M, "1.0"),
        (1000, "1.5"),
        (1500.5, "1.0"),
        (500.5, "1.9"),
        (7777.7, "1.3"),
    ]:
        lines = fare.fare_lines(terms=BIKE, distance_m=distance, surge_multiplier=Decimal(surge))
        assert lines.metered_fare == fare.metered_fare(distance_m=distance, surge_multiplier=Decimal(surge))
    assert fare.fare_lines(terms=BIKE, distance_m=CONTRACT_SEGMENT_M, surge_multiplier=1).metered_fare == 3336


def test_the_minimum_top_up_is_what_the_trip_fare_lacks():
    lines = fare.fare_lines(terms=BIKE, distance_m=500.5, surge_multiplier=Decimal("1.9"))
    assert (lines.distance, lines.surge, lines.minimum_top_up, lines.metered_fare) == (1502, 1351, 147, 3000)


def test_the_surge_line_absorbs_the_one_rounding():
    lines = fare.fare_lines(terms=BIKE, distance_m=1111.9508, surge_multiplier=Decimal("1.5"))
    assert (lines.distance, lines.surge, lines.metered_fare) == (3336, 1668, 5004)  # round(5003.7762) = 5004


def test_waiting_counts_whole_minutes_past_the_free_window(settings):
    settings.FREE_WAITING_SECONDS = 300
    minutes = [fare.waiting_minutes(waited_seconds=s) for s in (None, 0, 300, 359, 360, 419, 420)]
    assert minutes == [0, 0, 0, 0, 1, 1, 2]


def test_a_time_window_may_wrap_past_midnight_in_jakarta_time():
    terms = FareTerms(
        product="bike",
        version=2,
        base_fare=0,
        per_km=3000,
        minimum_fare=3000,
        time_multipliers=time_multipliers_parse([{"start": "23:00", "end": "05:00", "multiplier": "1.2"}]),
    )
    at_night = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # 00:30 in Jakarta
    by_day = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
    assert terms.time_multiplier_at(at_night) == Decimal("1.2") and terms.time_multiplier_at(by_day) == 1
