"""The fair ranking's pure functions, as the immediate dispatch and a batched cost matrix call them."""

from decimal import Decimal

from matching.ranking import (
    CandidateInputs,
    DriverRating,
    OfferStats,
    RankingWeights,
    acceptance_rate,
    cancellation_rate,
    candidate_cost,
    candidate_score,
)

WEIGHTS = RankingWeights(
    rating=1.0, acceptance=0.5, cancellation=1.0, tie_distance_m=200.0, unrated_rank=4.5, min_offers=5
)


def inputs(distance_m=100.0, average="4.8", accepted=8, declined=2, backed_out=0):
    rating = DriverRating(Decimal(average) if average else None, 10 if average else 0)
    return CandidateInputs(
        driver_id="d",
        distance_m=distance_m,
        rating=rating,
        stats=OfferStats(accepted=accepted, declined=declined, backed_out=backed_out),
    )


def test_rates_are_neutral_until_enough_offers():
    few = OfferStats(accepted=0, declined=2, backed_out=2)
    assert (acceptance_rate(few, WEIGHTS), cancellation_rate(few, WEIGHTS)) == (1.0, 0.0)


def test_rates_count_backing_out_as_accepted_and_as_cancelled():
    stats = OfferStats(accepted=5, declined=3, backed_out=2)
    assert (acceptance_rate(stats, WEIGHTS), cancellation_rate(stats, WEIGHTS)) == (0.7, 0.2)


def test_backing_out_lowers_the_score_and_raises_the_cost():
    steady, flaky = inputs(), inputs(accepted=5, backed_out=3)
    assert candidate_score(flaky, WEIGHTS) < candidate_score(steady, WEIGHTS)
    assert candidate_cost(flaky, WEIGHTS) > candidate_cost(steady, WEIGHTS)


def test_the_cost_is_the_distance_plus_at_most_the_tie_distance():
    best = inputs(distance_m=300, average="5.0", accepted=10, declined=0)
    worst = inputs(distance_m=300, average="1.0", accepted=0, declined=5, backed_out=5)
    assert candidate_cost(best, WEIGHTS) == 300.0
    assert 300.0 < candidate_cost(worst, WEIGHTS) <= 300.0 + WEIGHTS.tie_distance_m


def test_distance_comes_first_in_the_cost():
    near_but_poor = inputs(distance_m=100, average="1.0", accepted=0, declined=5, backed_out=5)
    far_but_perfect = inputs(distance_m=100 + WEIGHTS.tie_distance_m + 1, average="5.0", accepted=10, declined=0)
    assert candidate_cost(near_but_poor, WEIGHTS) < candidate_cost(far_but_perfect, WEIGHTS)
