"""The ops broadcaster: one snapshot per tick, pushed to the staff-only group `ops` when someone watches and
something changed (and at least every OPS_RESEND_SECONDS), plus the live-state gauges on /metrics."""
import hashlib
import logging

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from nebengjek import metrics, redis_keys
from gateway.ops.selectors import ops_counters, ops_snapshot
from nebengjek.realtime import OPS_GROUP
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

SNAPSHOT_TYPE = "ops.snapshot"  # the client message type, and the channel-layer type (consumer.ops_snapshot)


def ops_group_joins(user):
    """Whose sockets join the `ops` group: active staff."""
    return bool(user is not None and user.is_active and user.is_staff)


def ops_watch_mark():
    """A staff page is open (called when it fetches a socket token): broadcast for the next OPS_WATCH_TTL."""
    get_redis().set(redis_keys.OPS_WATCHED, "1", ex=redis_keys.OPS_WATCHED_TTL)


def ops_snapshot_message(snapshot):
    return orjson.dumps({"type": SNAPSHOT_TYPE, **snapshot}).decode()


def gauges_set(counters):
    metrics.ONLINE_DRIVERS.set(counters["online_drivers"])
    metrics.AVAILABLE_DRIVERS.set(counters["available_drivers"])
    metrics.SEARCHING_REQUESTS.set(counters["searching_requests"])
    metrics.RIDES_IN_PROGRESS.set(counters["rides_in_progress"])


def _changed(snapshot):
    """True when the snapshot (its time aside) differs from the last one sent, or that one is old."""
    body = orjson.dumps({key: value for key, value in snapshot.items() if key != "at"})
    digest = hashlib.blake2b(body, digest_size=16).hexdigest()
    client = get_redis()
    if client.get(redis_keys.OPS_LAST_DIGEST) == digest:
        return False
    client.set(redis_keys.OPS_LAST_DIGEST, digest, ex=settings.OPS_RESEND_SECONDS)
    return True


def ops_broadcast_tick(*, now=None):
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
            OPS_GROUP, {"type": SNAPSHOT_TYPE, "text": ops_snapshot_message(snapshot)})
    except Exception:  # the next tick sends a whole snapshot again
        logger.exception("ops broadcast failed")
        client.delete(redis_keys.OPS_LAST_DIGEST)
        return "failed"
    return "sent"


def ledger_check(*, now=None):
    """Run the ledger reconciler (billing.selectors.ledger_findings) and publish its verdict as gauges."""
    from billing.selectors import ledger_findings

    findings = ledger_findings()
    metrics.ledger_findings_record(findings, checked_at=now or timezone.now())
    if not findings.is_clean:
        logger.error("ledger not clean", extra={"problems": findings.problems, "imbalance_idr": findings.imbalance})
    return findings
