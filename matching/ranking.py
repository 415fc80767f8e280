"""Ratings in dispatch: among drivers at nearly the same distance from the pickup the better-rated is offered the
request first, and drivers under the rating floor are not offered rides (settings RATING_*; docs/rides.md "Ratings")."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from accounts.models import User


@dataclass(frozen=True, slots=True)
class DriverRating:
    average: Decimal | None
    count: int


UNRATED = DriverRating(average=None, count=0)


def floor_is_on():
    return settings.RATING_FLOOR is not None


def needs_ratings(candidates):
    """Whether ranking `candidates` (nearest first) can use their ratings at all: saves the query when not."""
    return floor_is_on() or any(
        later.distance_m - earlier.distance_m <= settings.RATING_TIE_DISTANCE_M
        for earlier, later in zip(candidates, candidates[1:], strict=False)
    )


def driver_ratings(driver_ids):
    """{driver id (str): DriverRating} in one query."""
    rows = User.objects.filter(id__in=list(driver_ids)).values_list("id", "rating_average", "rating_count")
    return {str(driver_id): DriverRating(average, count) for driver_id, average, count in rows}


def under_floor(rating):
    """Under RATING_FLOOR with at least RATING_FLOOR_MIN_COUNT ratings (off when the floor is None)."""
    return (
        floor_is_on()
        and rating.average is not None
        and rating.count >= settings.RATING_FLOOR_MIN_COUNT
        and rating.average < Decimal(str(settings.RATING_FLOOR))
    )


def rank(candidates, ratings):
    """`candidates` (nearest first) regrouped: each group holds the drivers within RATING_TIE_DISTANCE_M of the
    group's nearest; groups stay in distance order, inside a group the better-rated (then the nearer) comes first."""
    ranked: list[Any] = []
    group: list[Any] = []
    for candidate in candidates:
        if group and candidate.distance_m - group[0].distance_m > settings.RATING_TIE_DISTANCE_M:
            ranked += _best_first(group, ratings)
            group = []
        group.append(candidate)
    return ranked + _best_first(group, ratings)


def _best_first(group, ratings):
    return sorted(
        group, key=lambda candidate: (-_rank_value(ratings.get(str(candidate.id), UNRATED)), candidate.distance_m)
    )


def _rank_value(rating):
    return float(rating.average) if rating.average is not None else settings.RATING_UNRATED_RANK


def rating_cost_m(rating: DriverRating) -> float:
    """The batched dispatch's rating term, in metres added to the driver's pickup distance: 0 for a 5-star driver,
    RATING_TIE_DISTANCE_M for a 1-star one (an unrated driver counts as RATING_UNRATED_RANK), so that among drivers
    about as near, as in `rank`, the better-rated is preferred."""
    return settings.RATING_TIE_DISTANCE_M * (5.0 - _rank_value(rating)) / 4.0


# --- fair ranking: rating, acceptance and cancellation over the last offers (pure; the batched mode's cost matrix
# calls candidate_cost) -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankingWeights:
    rating: float
    acceptance: float
    cancellation: float
    tie_distance_m: float
    unrated_rank: float
    min_offers: int


def weights_from_settings() -> RankingWeights:
    return RankingWeights(
        rating=settings.RANKING_WEIGHT_RATING,
        acceptance=settings.RANKING_WEIGHT_ACCEPTANCE,
        cancellation=settings.RANKING_WEIGHT_CANCELLATION,
        tie_distance_m=settings.RATING_TIE_DISTANCE_M,
        unrated_rank=settings.RATING_UNRATED_RANK,
        min_offers=settings.RANKING_MIN_OFFERS,
    )


@dataclass(frozen=True, slots=True)
class OfferStats:
    """A driver's last offers (at most RANKING_WINDOW_OFFERS): accepted (kept), not accepted, backed out."""

    accepted: int = 0
    declined: int = 0
    backed_out: int = 0

    @property
    def offers(self) -> int:
        return self.accepted + self.declined + self.backed_out


NO_OFFERS = OfferStats()


@dataclass(frozen=True, slots=True)
class CandidateInputs:
    driver_id: str
    distance_m: float
    rating: DriverRating
    stats: OfferStats


def acceptance_rate(stats: OfferStats, weights: RankingWeights) -> float:
    """Accepted (backed out included) over offers; 1.0 (neutral) below min_offers."""
    if stats.offers < weights.min_offers:
        return 1.0
    return (stats.accepted + stats.backed_out) / stats.offers


def cancellation_rate(stats: OfferStats, weights: RankingWeights) -> float:
    """Backed out over offers; 0.0 (neutral) below min_offers."""
    if stats.offers < weights.min_offers:
        return 0.0
    return stats.backed_out / stats.offers


def candidate_score(inputs: CandidateInputs, weights: RankingWeights) -> float:
    """Higher is better: w_rating x rating/5 + w_acceptance x acceptance − w_cancellation x cancellation."""
    rating = float(inputs.rating.average) if inputs.rating.average is not None else weights.unrated_rank
    return (
        weights.rating * rating / 5
        + weights.acceptance * acceptance_rate(inputs.stats, weights)
        - weights.cancellation * cancellation_rate(inputs.stats, weights)
    )


def candidate_cost(inputs: CandidateInputs, weights: RankingWeights) -> float:
    """A cost in metres for an assignment solver: the pickup distance plus up to tie_distance_m for a worse score
    (the best possible score adds 0, the worst tie_distance_m), so distance stays first."""
    span = weights.rating + weights.acceptance + weights.cancellation
    quality = (candidate_score(inputs, weights) + weights.cancellation) / span if span else 1.0
    return inputs.distance_m + weights.tie_distance_m * (1 - min(1.0, max(0.0, quality)))


def ranking_record(inputs: CandidateInputs, weights: RankingWeights) -> dict:
    """What a match stores (Match.ranking) so an operator sees why this driver was offered the request."""
    return {
        "distance_m": round(inputs.distance_m, 1),
        "rating": float(inputs.rating.average) if inputs.rating.average is not None else None,
        "rating_count": inputs.rating.count,
        "offers": inputs.stats.offers,
        "acceptance_rate": round(acceptance_rate(inputs.stats, weights), 3),
        "cancellation_rate": round(cancellation_rate(inputs.stats, weights), 3),
        "score": round(candidate_score(inputs, weights), 4),
        "weights": {
            "rating": weights.rating,
            "acceptance": weights.acceptance,
            "cancellation": weights.cancellation,
            "tie_distance_m": weights.tie_distance_m,
        },
    }


def batched_record(distance_m: float) -> dict:
    """A match chosen by the batched dispatch's assignment (distance + candidate_cost's term, summed over a window)."""
    return {"distance_m": round(distance_m, 1), "ranked_by": "batched assignment (distance + fair-ranking cost)"}


def distance_only_record(distance_m: float) -> dict:
    """A match offered by distance alone (no other driver within the tie distance, no rating floor)."""
    return {"distance_m": round(distance_m, 1), "ranked_by": "distance (no near-equal driver)"}


def rank_fair(candidates: list[Any], inputs: dict[str, CandidateInputs], weights: RankingWeights) -> list[Any]:
    """`candidates` (nearest first) regrouped as `rank` does, each group by score (then distance)."""
    ranked: list[Any] = []
    group: list[Any] = []
    for candidate in candidates:
        if group and candidate.distance_m - group[0].distance_m > weights.tie_distance_m:
            ranked += _best_scored_first(group, inputs, weights)
            group = []
        group.append(candidate)
    return ranked + _best_scored_first(group, inputs, weights)


def _best_scored_first(group: list[Any], inputs: dict[str, CandidateInputs], weights: RankingWeights) -> list[Any]:
    return sorted(
        group, key=lambda candidate: (-candidate_score(inputs[str(candidate.id)], weights), candidate.distance_m)
    )
