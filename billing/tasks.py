"""Settlement in the background: one task per completed ride, a chunk task, and a sweeper for rides a lost task
left behind; and the sweeper of top-ups whose gateway answer was lost.

Under a backlog, settle_ride settles the chunk of rides published before it with one commit (the Redis pending list)
and the tasks of those rides then find them settled: throughput from batching, latency and at-least-once from the
one message per ride. All are safe to run any number of times (at-least-once delivery: acks_late,
reject_on_worker_lost): the settlement takes the ride's row lock and a unique (ride, purpose) key, so a redelivered
task changes nothing.
"""

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from redis.exceptions import RedisError

from billing import selectors, services
from billing.models import TopUpStatus
from nebengjek import redis_keys
from nebengjek.errors import DomainError
from nebengjek.redis import get_redis
from rides.models import Ride

logger = logging.getLogger(__name__)


class SettleRideTask(Task):
    """Publishing settle_ride(ride_id) also lists the ride as pending in Redis, so that under a backlog each running
    task settles a chunk of pending rides with one commit instead of one ride per commit (see settle_ride)."""

    def apply_async(self, args=None, kwargs=None, **options):
        ride_id = args[0] if args else (kwargs or {}).get("ride_id")
        if ride_id is not None:
            _pending_push(str(ride_id))
        return super().apply_async(args, kwargs, **options)


def _pending_push(ride_id):
    try:
        redis = get_redis()
        with redis.pipeline(transaction=False) as pipe:
            pipe.rpush(redis_keys.BILLING_SETTLE_PENDING, ride_id)
            pipe.expire(redis_keys.BILLING_SETTLE_PENDING, redis_keys.BILLING_SETTLE_PENDING_TTL)
            pipe.execute()
    except RedisError:  # only a shortcut: the ride's own message settles it
        logger.warning("settle_ride: pending list unavailable", exc_info=True)


def _pending_pop() -> list[str]:
    try:
        return get_redis().lpop(redis_keys.BILLING_SETTLE_PENDING, settings.BILLING_SETTLE_CHUNK) or []  # type: ignore[return-value]
    except RedisError:
        logger.warning("settle_ride: pending list unavailable", exc_info=True)
        return []


@shared_task(
    base=SettleRideTask, autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60, max_retries=8
)
def settle_ride(ride_id):
    """Settle this ride, exactly once. First settles, with one commit, the chunk of pending rides (published, maybe
    not yet run) at the head of the list; their own tasks then find them settled. This ride itself is checked (and
    settled if needed) before the task ends, so acks_late still guarantees it whatever happened to the chunk."""
    pending = _pending_pop()
    if pending:
        try:
            services.rides_settle(ride_ids=pending)
        except Exception:  # the chunk is a shortcut; each of its rides still has its own message
            logger.exception("settle_ride: settling the pending chunk failed", extra={"rides": len(pending)})
    settled = selectors.ride_settlement_id(ride_id=ride_id)
    if settled is not None:
        return str(settled)
    try:
        txn = services.ride_settle(ride_id=ride_id)
    except Ride.DoesNotExist:
        logger.error("settle_ride: no such ride", extra={"ride_id": ride_id})
        return None
    except DomainError as exc:
        logger.warning("settle_ride: not settled", extra={"ride_id": ride_id, "code": exc.code})
        return None
    return str(txn.pk)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60, max_retries=8)
def settle_rides(ride_ids):
    """Settle many rides with one commit per chunk (each its own ledger transaction and key); a bad ride is retried
    alone and left for the sweeper. Safe to run again: settled rides are skipped."""
    return _settle_in_chunks(ride_ids)


def _settle_in_chunks(ride_ids) -> int:
    chunk = settings.BILLING_SETTLE_CHUNK
    return sum(
        services.rides_settle(ride_ids=ride_ids[start : start + chunk]) for start in range(0, len(ride_ids), chunk)
    )


@shared_task
def settle_unsettled_rides():
    """Beat sweeper: settle completed rides with no settlement once the normal task had time to run."""
    ended_before = timezone.now() - timedelta(seconds=settings.BILLING_SETTLE_GRACE_SECONDS)
    ride_ids = selectors.ride_ids_unsettled(ended_before=ended_before, limit=settings.BILLING_SWEEP_BATCH)
    settled = _settle_in_chunks(ride_ids)  # one commit per chunk; a bad ride is retried alone and does not stop it
    if ride_ids:
        logger.warning("sweeper settled rides a lost task left behind", extra={"count": settled})
    return settled


@shared_task
def resolve_pending_topups() -> int:
    """Beat sweeper: ask the gateway how the charges of top-ups pending for over a minute ended, and complete or
    fail each (once: services.topup_resolve). Those it cannot tell about stay for the next run. Returns how many
    it resolved."""
    created_before = timezone.now() - timedelta(seconds=settings.BILLING_TOPUP_RESOLVE_AFTER_SECONDS)
    resolved = 0
    for topup_id in selectors.topup_ids_pending(
        created_before=created_before, limit=settings.BILLING_TOPUP_SWEEP_BATCH
    ):
        try:
            topup = services.topup_resolve(topup_id=topup_id)
        except Exception:  # one bad top-up must not hold back the others; it is asked about again next run
            logger.exception("could not resolve a pending top-up", extra={"topup_id": str(topup_id)})
            continue
        resolved += topup.status != TopUpStatus.PENDING
    if resolved:
        logger.info("resolved pending top-ups", extra={"count": resolved})
    return resolved
