"""The ops broadcaster: one snapshot per tick, pushed to the staff-only group `ops` when someone watches and
something changed (and at least every OPS_RESEND_SECONDS), plus the live-state gauges on /metrics."""

import hashlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from gateway.ops.selectors import ops_counters, ops_snapshot
from nebengjek import metrics, redis_keys
from nebengjek.realtime import OPS_GROUP
from nebengjek.redis import get_redis

if TYPE_CHECKING:
    from billing.selectors import LedgerFindings

logger = logging.getLogger(__name__)

SNAPSHOT_TYPE = "ops.snapshot"  # the client message type, and the channel-layer type (consumer.ops_snapshot)


def ops_group_joins(user: Any) -> bool:
    """Whose sockets join the `ops` group: active staff."""
    return bool(user is not None and user.is_active and user.is_staff)


def ops_watch_mark() -> None:
    """A staff page is open (called when it fetches a socket token): broadcast for the next OPS_WATCH_TTL."""
    get_redis().set(redis_keys.OPS_WATCHED, "1", ex=redis_keys.OPS_WATCHED_TTL)


def ops_snapshot_message(snapshot: dict[str, Any]) -> str:
    return orjson.dumps({"type": SNAPSHOT_TYPE, **snapshot}).decode()


def gauges_set(counters: dict[str, Any]) -> None:
    metrics.ONLINE_DRIVERS.set(counters["online_drivers"])
    metrics.AVAILABLE_DRIVERS.set(counters["available_drivers"])
    metrics.SEARCHING_REQUESTS.set(counters["searching_requests"])
    metrics.RIDES_IN_PROGRESS.set(counters["rides_in_progress"])
    try:
        metrics.celery_queue_depths_record(celery_queue_depths())
    except Exception:  # only a gauge: the broker may be another kind, or briefly down
        logger.warning("celery queue depths not read", exc_info=True)


def celery_queue_depths() -> dict[str, int]:
    """Messages waiting in each configured queue of a Redis broker (a queue is a list named after it)."""
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return {}
    names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    client = get_redis(broker)
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
        return dict(zip(names, pipe.execute(), strict=True))


def _changed(snapshot: dict[str, Any]) -> bool:
    """True when the snapshot (its time aside) differs from the last one sent, or that one is old."""
    body = orjson.dumps({key: value for key, value in snapshot.items() if key != "at"})
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    client = get_redis()
    if client.get(redis_keys.OPS_LAST_DIGEST) == digest:
        return False
    client.set(redis_keys.OPS_LAST_DIGEST, digest, ex=settings.OPS_RESEND_SECONDS)
    return True


def ops_broadcast_tick(*, now: datetime | None = None) -> str:
    """One beat of the broadcaster; returns what it did: `sent`, `unchanged`, `gauges` or `idle`."""
    now = now or timezone.now()
    client = get_redis()
    if not client.exists(redis_keys.OPS_WATCHED):
        if client.set(redis_keys.OPS_GAUGES_FRESH, "1", nx=True, ex=redis_keys.OPS_GAUGES_FRESH_TTL):
            gauges_set(ops_counters(now=now))
            return "gauges"
        return "idle"
    snapshot = ops_snapshot(now=now)
    gauges_set(snapshot["counters"])
    if not _changed(snapshot):
        return "unchanged"
    try:
        async_to_sync(get_channel_layer().group_send)(
            OPS_GROUP, {"type": SNAPSHOT_TYPE, "text": ops_snapshot_message(snapshot)}
        )
    except Exception:  # the next tick sends a whole snapshot again
        logger.exception("ops broadcast failed")
        client.delete(redis_keys.OPS_LAST_DIGEST)
        return "failed"
    return "sent"


def ledger_check(*, now: datetime | None = None) -> "LedgerFindings":
    """Run the ledger reconciler (billing.selectors.ledger_findings) and publish its verdict as gauges."""
    from billing.selectors import ledger_findings, unsettled_oldest_ended_at

    now = now or timezone.now()
    findings = ledger_findings()
    metrics.ledger_findings_record(findings, checked_at=now)
    metrics.settlement_backlog_record(oldest_ended_at=unsettled_oldest_ended_at(), now=now)
    if not findings.is_clean:
        logger.error("ledger not clean", extra={"problems": findings.problems, "imbalance_idr": findings.imbalance})
    return findings
