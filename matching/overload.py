"""The door of new ride requests: shed them (503 dispatch_overloaded, Retry-After) while a backlog is past its
threshold, instead of taking work the server cannot finish in time (issue 22: under overload the pushes and socket
answers fell seconds behind while new requests kept being accepted).

Three backlogs, each with its own setting (0 turns that check off):
- server_backlog: synchronous calls (REST views, socket ORM handlers) started and not finished in this server process
  (nebengjek.sync_pool) > MATCHING_SHED_SYNC_BACKLOG;
- event_loop_lag: the process's event loop, which delivers the pushes and the socket answers, ran its timer later than
  MATCHING_SHED_LOOP_LAG_MS;
- dispatch_backlog: dispatch tasks waiting in the Celery queue MATCHING_QUEUE > MATCHING_SHED_DISPATCH_BACKLOG (read at
  most every MATCHING_SHED_PROBE_SECONDS).
Only new requests are refused: accepts, confirms and rides under way go on, so the work already taken finishes.
"""

import logging
import threading
import time

from django.conf import settings
from redis.exceptions import RedisError

from matching.errors import MatchingError, MatchingException
from nebengjek import metrics, sync_pool
from nebengjek.redis import get_redis

logger = logging.getLogger(__name__)

_probe_lock = threading.Lock()
_probe: dict[str, float] = {"at": -1e9, "length": 0}
_warned = {"at": -1e9}
_WARN_EVERY_SECONDS = 5.0


def door_check() -> None:
    """Raise 503 dispatch_overloaded (with Retry-After) when a backlog is past its threshold; else nothing."""
    reason, details = overload_reason()
    if reason is None:
        return
    retry_after = settings.MATCHING_SHED_RETRY_AFTER_SECONDS
    metrics.REQUESTS_SHED.labels(reason).inc()
    _warn(reason, details)
    refusal = MatchingException(
        MatchingError.DISPATCH_OVERLOADED,
        details={"reason": reason, "retry_after_s": retry_after, **details},
        headers={"Retry-After": str(retry_after)},
    )
    refusal.already_logged = True  # type: ignore[attr-defined]  # the WARNING above, every few seconds: Django logs no ERROR per 503
    raise refusal


def overload_reason() -> tuple[str | None, dict]:
    """The first backlog past its threshold, with its figures; (None, {}) when none is."""
    limit = settings.MATCHING_SHED_SYNC_BACKLOG
    backlog = sync_pool.in_flight()
    if limit and backlog > limit:
        return "server_backlog", {"backlog": backlog, "threshold": limit}
    limit_ms = settings.MATCHING_SHED_LOOP_LAG_MS
    lag_ms = sync_pool.loop_lag_seconds() * 1000
    if limit_ms and lag_ms > limit_ms:
        return "event_loop_lag", {"lag_ms": round(lag_ms), "threshold": limit_ms}
    limit = settings.MATCHING_SHED_DISPATCH_BACKLOG
    if limit:
        waiting = dispatch_queue_length()
        if waiting > limit:
            return "dispatch_backlog", {"backlog": waiting, "threshold": limit}
    return None, {}


def dispatch_queue_length() -> int:
    """Dispatch tasks waiting in the broker (Celery's Redis list of MATCHING_QUEUE), read at most every
    MATCHING_SHED_PROBE_SECONDS per process; 0 when the broker cannot tell (the door stays open)."""
    now = time.monotonic()
    with _probe_lock:
        if now - _probe["at"] < settings.MATCHING_SHED_PROBE_SECONDS:
            return int(_probe["length"])
        _probe["at"] = now
    try:
        length = int(get_redis(settings.CELERY_BROKER_URL).llen(settings.MATCHING_QUEUE))
    except (RedisError, OSError, ValueError):
        length = 0
    _probe["length"] = length
    return length


def _warn(reason: str, details: dict) -> None:
    """One WARNING per process every few seconds while shedding (not one per refused request)."""
    now = time.monotonic()
    if now - _warned["at"] < _WARN_EVERY_SECONDS:
        return
    _warned["at"] = now
    logger.warning(
        "shedding new ride requests (503 dispatch_overloaded): %s past its threshold %s",
        reason,
        details,
        extra={"reason": reason, **{f"overload_{k}": v for k, v in details.items()}},
    )
