"""Each driver's last offers for the ranking, kept cheaply in Redis and rebuilt from the matches when missing.

redis_keys.DRIVER_OFFERS: a LIST per driver, newest first, of "a" (accepted), "n" (rejected or let expire) and
"b" (backed out of a confirmed ride), ending with a "-" sentinel so a rebuilt driver with no offers still has a key;
trimmed to RANKING_WINDOW_OFFERS + 1. An outcome is pushed only onto an existing list (LPUSHX): a missing one is
rebuilt from the database at the next ranking. A back-out drops the list (the accept it follows is rewritten).
"""

import logging

from django.conf import settings
from django.db.models import Q
from redis.exceptions import RedisError

from matching.models import Match, MatchStatus
from matching.ranking import OfferStats
from nebengjek import redis_keys
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

ACCEPTED, DECLINED, BACKED_OUT, SENTINEL = "a", "n", "b", "-"


def _key(driver_id) -> str:
    return redis_keys.key(redis_keys.DRIVER_OFFERS, driver_id=driver_id)


def offer_outcome_record(*, driver_id, outcome: str) -> None:
    """After commit: push one outcome onto the driver's list if it is there (else the next read rebuilds it)."""
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.lpushx(_key(driver_id), outcome)
        pipe.ltrim(_key(driver_id), 0, settings.RANKING_WINDOW_OFFERS)
        pipe.execute()
    except RedisError:
        logger.warning("offer outcome not counted: the list is rebuilt later", exc_info=True)
        offer_stats_forget(driver_id=driver_id)


def offer_stats_forget(*, driver_id) -> None:
    try:
        get_redis().delete(_key(driver_id))
    except RedisError:
        logger.warning("could not drop a driver's offer list", exc_info=True)


def offer_stats_get(*, driver_ids) -> dict[str, OfferStats]:
    """{driver id: OfferStats} from Redis in one round trip; the missing ones rebuilt from the database."""
    ids = [str(driver_id) for driver_id in driver_ids]
    if not ids:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for driver_id in ids:
        pipe.lrange(_key(driver_id), 0, settings.RANKING_WINDOW_OFFERS)
    found = dict(zip(ids, pipe.execute(), strict=True))
    missing = [driver_id for driver_id, outcomes in found.items() if not outcomes]
    if missing:
        found.update(offer_stats_rebuild(driver_ids=missing))
    return {driver_id: _stats(outcomes) for driver_id, outcomes in found.items()}


def offer_stats_rebuild(*, driver_ids) -> dict[str, list[str]]:
    """Each driver's last RANKING_WINDOW_OFFERS outcomes from their matches, written back to Redis."""
    window = settings.RANKING_WINDOW_OFFERS
    rebuilt = {}
    pipe = get_redis().pipeline(transaction=False)
    for driver_id in driver_ids:
        rows = (
            Match.objects.filter(driver_id=driver_id)
            .filter(_COUNTED)
            .order_by("-created_at")
            .values_list("status", "responded_at")[:window]
        )
        outcomes = [_outcome(status, responded_at) for status, responded_at in rows] + [SENTINEL]
        rebuilt[driver_id] = outcomes
        pipe.delete(_key(driver_id))
        pipe.rpush(_key(driver_id), *outcomes)
        pipe.expire(_key(driver_id), redis_keys.DRIVER_OFFERS_TTL)
    pipe.execute()
    return rebuilt


# Offers the driver answered for: not pending, and not a proposal taken away before an answer (another driver won,
# the passenger cancelled).
_COUNTED = ~Q(status=MatchStatus.PENDING) & ~Q(status=MatchStatus.CANCELLED, responded_at__isnull=True)


def _outcome(status: str, responded_at) -> str:
    if status == MatchStatus.BACKED_OUT:
        return BACKED_OUT
    if status == MatchStatus.REJECTED or (status == MatchStatus.EXPIRED and responded_at is None):
        return DECLINED
    return ACCEPTED


def _stats(outcomes: list[str]) -> OfferStats:
    outcomes = [o for o in outcomes if o != SENTINEL][: settings.RANKING_WINDOW_OFFERS]
    return OfferStats(
        accepted=outcomes.count(ACCEPTED), declined=outcomes.count(DECLINED), backed_out=outcomes.count(BACKED_OUT)
    )
