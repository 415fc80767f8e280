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
    return floor_is_on() or any(later.distance_m - earlier.distance_m <= settings.RATING_TIE_DISTANCE_M
                                for earlier, later in zip(candidates, candidates[1:], strict=False))


def driver_ratings(driver_ids):
    """{driver id (str): DriverRating} in one query."""
    rows = User.objects.filter(id__in=list(driver_ids)).values_list("id", "rating_average", "rating_count")
    return {str(driver_id): DriverRating(average, count) for driver_id, average, count in rows}


def under_floor(rating):
    """Under RATING_FLOOR with at least RATING_FLOOR_MIN_COUNT ratings (off when the floor is None)."""
    return (floor_is_on() and rating.average is not None and rating.count >= settings.RATING_FLOOR_MIN_COUNT
            and rating.average < Decimal(str(settings.RATING_FLOOR)))


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
    return sorted(group, key=lambda candidate: (-_rank_value(ratings.get(str(candidate.id), UNRATED)),
                                                candidate.distance_m))


def _rank_value(rating):
    return float(rating.average) if rating.average is not None else settings.RATING_UNRATED_RANK


def rating_cost_m(rating: DriverRating) -> float:
    """The batched dispatch's rating term, in metres added to the driver's pickup distance: 0 for a 5-star driver,
    RATING_TIE_DISTANCE_M for a 1-star one (an unrated driver counts as RATING_UNRATED_RANK), so that among drivers
    about as near, as in `rank`, the better-rated is preferred."""
    return settings.RATING_TIE_DISTANCE_M * (5.0 - _rank_value(rating)) / 4.0
