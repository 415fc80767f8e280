"""DRF throttles that count on the rate counters' Redis (settings.RATE_REDIS_URL, the `rate` cache), not the cache."""

from django.core.cache import caches
from rest_framework.throttling import ScopedRateThrottle


class RateScopedThrottle(ScopedRateThrottle):
    """ScopedRateThrottle whose counters live with the other rate counters."""

    cache = caches["rate"]
