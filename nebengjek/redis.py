"""Shared Redis clients (sync and asyncio) with blocking, sized pools (redis-py 8 raises when a pool is full).

Each role has its URL setting (all default to REDIS_URL): a client without a URL is the live state's
(LIVE_REDIS_URL: GEO index, driver state, presence, ride tracks, and the sign-in revocation marks that the nearby
script reads with the index); rate counters take `get_rate_redis()` (RATE_REDIS_URL); the channel layer
(CHANNEL_REDIS_URLS), the cache (CACHE_REDIS_URL) and the Celery broker (CELERY_BROKER_URL) are set in settings.
"""
import os
import threading

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

_sync_clients = {}
_async_clients = {}
_lock = threading.Lock()


def get_redis(url=None):
    """The process-wide synchronous client for `url` (default the live state's, settings.LIVE_REDIS_URL)."""
    url = url or settings.LIVE_REDIS_URL
    return _made_once(_sync_clients, url, lambda: redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(
        url, max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=5,
        socket_connect_timeout=2, socket_timeout=5, decode_responses=True)))


def _made_once(clients, key, make):
    """clients[key], made by make() on first use; threads that race for it get the same one."""
    client = clients.get(key)
    if client is None:
        with _lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = make()
    return client


_held_clients = {}


def get_redis_held(url=None):
    """The process's client on one connection it keeps (redis-py's single_connection_client; threads take turns on
    it), for short hot reads: a command skips the shared pool's lock, checkout and readiness poll (a PING 43-52 ->
    25-27 µs of CPU). One per process, not per thread: Django runs each request's code in a new thread. Without the
    poll a connection the server dropped (a restart, a failover) fails its next command, so such a command is sent
    once more on a new connection: for reads only. A forked child opens its own."""
    url = url or settings.LIVE_REDIS_URL
    return _made_once(_held_clients, (os.getpid(), url), lambda: redis.Redis.from_url(
        url, single_connection_client=True, retry=Retry(NoBackoff(), 1), socket_connect_timeout=2,
        socket_timeout=5, decode_responses=True))


def get_async_redis(url=None):
    """An asyncio client for the running event loop's process (one pool per URL; default the live state's)."""
    url = url or settings.LIVE_REDIS_URL
    client = _async_clients.get(url)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=5,
            socket_connect_timeout=2, socket_timeout=None, decode_responses=True,
        )
        client = _async_clients[url] = aioredis.Redis(connection_pool=pool)
    return client


def get_rate_redis():
    """The client for rate counters (settings.RATE_REDIS_URL): OTP send windows."""
    return get_redis(settings.RATE_REDIS_URL)


def role_urls() -> dict[str, list[str]]:
    """Each Redis role's URLs (the channel layer may have several), for readiness checks and test cleanup."""
    return {"live": [settings.LIVE_REDIS_URL], "rate": [settings.RATE_REDIS_URL], "cache": [settings.CACHE_REDIS_URL],
            "channels": list(settings.CHANNEL_REDIS_URLS)}


def reset_async_clients():
    """Forget asyncio clients (their connections belong to an event loop that may be gone, as in tests)."""
    _async_clients.clear()
