"""Rate limits: DRF throttles that count on the rate counters' Redis (settings.RATE_REDIS_URL, the `rate` cache), not
the cache; a fixed-window counter for limits outside DRF; and the client address the per-IP limits count by."""

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import ScopedRateThrottle

from nebengjek.redis import get_rate_redis


class RateScopedThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose counters live with the other rate counters."""

    cache = caches["rate"]


def client_ip(request) -> str | None:
    """The client address, trusting X-Forwarded-For only as far as settings' NUM_PROXIES."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR")


def fixed_window_hit(key: str, *, limit: int, window_s: int) -> int | None:
    """Count one hit in the window `key` (it starts with its first hit and lasts `window_s`): None while the hits
    are within `limit`, else the seconds until the window ends (a Retry-After)."""
    return fixed_windows_hit([(key, window_s, limit)])


def fixed_windows_hit(windows: list[tuple[str, int, int]]) -> int | None:
    """Count one hit in each (key, window_s, limit) window at once (one MULTI): None while every window is within
    its limit, else the seconds until the longest-waiting window over its limit ends (a Retry-After)."""
    pipe = get_rate_redis().pipeline(transaction=True)
    for key, window_s, _ in windows:
        pipe.set(key, 0, ex=window_s, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
    results = pipe.execute()
    waits = [max(int(results[i * 3 + 2]), 1) for i, (_, _, limit) in enumerate(windows) if results[i * 3 + 1] > limit]
    return max(waits, default=None)
