"""Ratings: after a completed ride each side rates the other once, and the rated user's aggregate (accounts.User
`rating_average` over the last RATING_WINDOW_SIZE ratings, `rating_count` all-time) moves in the same transaction.

Concurrent ratings of one user are serialized by a lock on that user's row (accounts.services.user_rating_lock, FOR
NO KEY UPDATE, so two people rating each other at the same moment cannot deadlock); accounts stores the aggregate.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.services import user_rating_lock, user_rating_set
from nebengjek.errors import CommonError, DomainError
from rides.errors import RidesError, RidesException, invalid_ride_state, ride_status_words
from rides.models import Rating, RatingSide, RideStatus
from rides.selectors import ride_get_visible

_TWO_PLACES = Decimal("0.01")


def rating_create(*, ride_id, rater, stars, comment="", tags=()):
    """`rater` (the ride's passenger or driver) rates the other side of a completed ride, once, within
    RATING_OPEN_DAYS of its end. Returns the Rating."""
    ride = ride_get_visible(ride_id=ride_id, user=rater, with_people=False)  # anyone else: 404
    _ensure_ratable(ride, now=timezone.now())
    side = RatingSide.PASSENGER if ride.passenger_id == rater.pk else RatingSide.DRIVER
    ratee_id = ride.driver_id if side == RatingSide.PASSENGER else ride.passenger_id
    tags = _tags_checked(tags, rated_side=RatingSide.DRIVER if side == RatingSide.PASSENGER else RatingSide.PASSENGER)
    try:
        with transaction.atomic():
            ratee_count = user_rating_lock(user_id=ratee_id)
            rating = Rating.objects.create(
                ride=ride,
                rater=rater,
                ratee_id=ratee_id,
                rater_side=side,
                stars=stars,
                comment=comment,
                tags=tags,
                ratee_seq=ratee_count + 1,
            )
            _aggregate_refresh(ratee_id=ratee_id, count=rating.ratee_seq)
    except IntegrityError:
        # The once-per-side constraint answers a second rating (a racing one included) without a check beforehand.
        if Rating.objects.filter(ride=ride, rater=rater).exists():
            raise _already_rated() from None
        raise
    return rating


def rating_comments_hide(*, rating_ids, operator):
    """Hide abusive comments (operators): the text is kept for the record but never shown; the stars still count.
    Returns how many were newly hidden."""
    return Rating.objects.filter(id__in=rating_ids, comment_hidden_at__isnull=True).update(
        comment_hidden_at=timezone.now(), comment_hidden_by=operator
    )


def rating_tags_allowed(*, rated_side):
    return list(settings.RATING_TAGS.get(rated_side, []))


def _ensure_ratable(ride, *, now):
    if ride.status != RideStatus.COMPLETED:
        raise invalid_ride_state(
            ride.status, f"This ride is {ride_status_words(ride.status)}; only a completed ride can be rated."
        )
    closes_at = ride.ended_at + timedelta(days=settings.RATING_OPEN_DAYS)
    if now > closes_at:
        raise RidesException(
            RidesError.RATING_WINDOW_CLOSED,
            f"A ride can be rated for {settings.RATING_OPEN_DAYS} days after it ends.",
            details={"closed_at": closes_at.isoformat().replace("+00:00", "Z")},
        )


def _tags_checked(tags, *, rated_side):
    """Known tags for the rated side, duplicates dropped, order kept; an unknown one is a 400 naming it."""
    allowed = rating_tags_allowed(rated_side=rated_side)
    unknown = [tag for tag in tags if tag not in allowed]
    if unknown:
        raise DomainError(
            CommonError.INVALID_INPUT,
            f"tags: unknown tag {unknown[0]!r} for a {rated_side}.",
            details={"tags": [f"Unknown tag {tag!r}." for tag in unknown], "allowed": allowed},
        )
    return list(dict.fromkeys(tags))


def _aggregate_refresh(*, ratee_id, count):
    """The rated user's average over the ratings numbered count-WINDOW+1 .. count (the user's row is locked)."""
    window = Rating.objects.filter(ratee_id=ratee_id, ratee_seq__gt=count - settings.RATING_WINDOW_SIZE).aggregate(
        total=Sum("stars"), n=Count("id")
    )
    average = (Decimal(window["total"]) / window["n"]).quantize(_TWO_PLACES, rounding=ROUND_HALF_UP)
    user_rating_set(user_id=ratee_id, average=average, count=count)


def _already_rated():
    return RidesException(RidesError.ALREADY_RATED)
