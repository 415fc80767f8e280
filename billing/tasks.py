"""Settlement in the background: one task per completed ride, and a sweeper for rides a lost task left behind.

Both are safe to run any number of times (at-least-once delivery: acks_late, reject_on_worker_lost): the
settlement takes the ride's row lock and a unique (ride, purpose) key, so a redelivered task changes nothing.
"""
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from billing import selectors, services
from nebengjek.errors import DomainError
from rides.models import Ride

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60, max_retries=8)
def settle_ride(ride_id):
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
    return sum(services.rides_settle(ride_ids=ride_ids[start:start + chunk]) for start in range(0, len(ride_ids), chunk))


@shared_task
def settle_unsettled_rides():
    """Beat sweeper: settle completed rides with no settlement once the normal task had time to run."""
    ended_before = timezone.now() - timedelta(seconds=settings.BILLING_SETTLE_GRACE_SECONDS)
    ride_ids = selectors.ride_ids_unsettled(ended_before=ended_before, limit=settings.BILLING_SWEEP_BATCH)
    settled = _settle_in_chunks(ride_ids)  # one commit per chunk; a bad ride is retried alone and does not stop it
    if ride_ids:
        logger.warning("sweeper settled rides a lost task left behind", extra={"count": settled})
    return settled
