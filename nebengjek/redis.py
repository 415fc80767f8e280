"""Shared Redis clients (sync and asyncio) with blocking, sized pools (redis-py 8 raises when a pool is full).

Each role has its URL setting (all default to REDIS_URL): a client without a URL is the live state's
(LIVE_REDIS_URL: GEO index, driver state, presence, ride tracks, sign-in revocation marks, suspended users), except
when the live state is a Redis Cluster (LIVE_REDIS_CLUSTER): the live state then goes through get_live_redis*
(redis-py's RedisCluster) and a client without a URL is REDIS_URL's; rate counters take `get_rate_redis()`
(RATE_REDIS_URL); the channel layer (CHANNEL_REDIS_URLS), the cache (CACHE_REDIS_URL) and the Celery broker
(CELERY_BROKER_URL) are set in settings.
"""

import os
import threading
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

_sync_clients: dict[str, redis.Redis] = {}
_async_clients: dict[str, aioredis.Redis] = {}
_async_cluster_clients: dict[str, AsyncRedisCluster] = {}
_lock = threading.Lock()


def default_url() -> str:
    """The URL of a client asked for without one: the live state's (LIVE_REDIS_URL) on one Redis; REDIS_URL when
    the live state is a Redis Cluster (a plain client on one cluster node would be refused most keys, and the keys
    these callers share, as the revocation marks read with MGET, span slots)."""
    return settings.REDIS_URL if live_redis_is_cluster() else settings.LIVE_REDIS_URL


def get_redis(url: str | None = None) -> redis.Redis:
    """The process-wide synchronous client for `url` (default: default_url())."""
    url = url or default_url()
    return _made_once(
        _sync_clients,
        url,
        lambda: redis.Redis(
            connection_pool=redis.BlockingConnectionPool.from_url(
                url,
                max_connections=settings.REDIS_MAX_CONNECTIONS,
                timeout=5,
                socket_connect_timeout=2,
                socket_timeout=5,
                decode_responses=True,
            )
        ),
    )


def _made_once(clients: dict[Any, redis.Redis], key: Any, make: Callable[[], redis.Redis]) -> redis.Redis:
    """clients[key], made by make() on first use; threads that race for it get the same one."""
    client = clients.get(key)
    if client is None:
        with _lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = make()
    return client


_held_clients: dict[tuple[int, str], redis.Redis] = {}


def get_redis_held(url: str | None = None) -> redis.Redis:
    """The process's client on one connection it keeps (redis-py's single_connection_client; threads take turns on
    it), for short hot reads: a command skips the shared pool's lock, checkout and readiness poll (a PING 43-52 ->
    25-27 µs of CPU). One per process, not per thread: Django runs each request's code in a new thread. Without the
    poll a connection the server dropped (a restart, a failover) fails its next command, so such a command is sent
    once more on a new connection: for reads only. A forked child opens its own."""
    url = url or default_url()
    return _made_once(
        _held_clients,
        (os.getpid(), url),
        lambda: redis.Redis.from_url(
            url,
            single_connection_client=True,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=2,
            socket_timeout=5,
            decode_responses=True,
        ),
    )


def get_async_redis(url: str | None = None) -> aioredis.Redis:
    """An asyncio client for the running event loop's process (one pool per URL; default the live state's)."""
    url = url or default_url()
    client = _async_clients.get(url)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
            timeout=5,
            socket_connect_timeout=2,
            socket_timeout=None,
            decode_responses=True,
        )
        client = _async_clients[url] = aioredis.Redis(connection_pool=pool)
    return client


def get_rate_redis() -> redis.Redis:
    """The client for rate counters (settings.RATE_REDIS_URL): OTP send windows."""
    return get_redis(settings.RATE_REDIS_URL)


def role_urls() -> dict[str, list[str]]:
    """Each Redis role's URLs (the channel layer may have several), for readiness checks and test cleanup."""
    return {
        "live": [settings.LIVE_REDIS_URL],
        "rate": [settings.RATE_REDIS_URL],
        "cache": [settings.CACHE_REDIS_URL],
        "channels": list(settings.CHANNEL_REDIS_URLS),
    }


def reset_async_clients() -> None:
    """Forget asyncio clients (their connections belong to an event loop that may be gone, as in tests)."""
    _async_clients.clear()
    _async_cluster_clients.clear()


_live_clients: dict[str, RedisCluster] = {}


def live_redis_is_cluster() -> bool:
    return bool(settings.LIVE_REDIS_CLUSTER)


def _live_url() -> str:
    return str(settings.LIVE_REDIS_URL)


def get_live_redis() -> Any:
    """The process-wide synchronous client of the live state (settings.LIVE_REDIS_URL): a redis.Redis, or a
    redis-py RedisCluster when settings.LIVE_REDIS_CLUSTER is on (it routes each command by its key's slot)."""
    url = _live_url()
    if not live_redis_is_cluster():
        return get_redis(url)
    client = _live_clients.get(url)
    if client is None:
        with _lock:
            client = _live_clients.get(url)
            if client is None:
                client = _live_clients[url] = RedisCluster.from_url(
                    url,
                    decode_responses=True,
                    socket_connect_timeout=2,
                    socket_timeout=5,
                    max_connections=settings.REDIS_MAX_CONNECTIONS,
                )
    return client


def get_live_redis_held() -> Any:
    """The live-state client for short hot reads: get_redis_held's single connection on one Redis; the cluster
    client (its own connection per node) on a Redis Cluster."""
    return get_live_redis() if live_redis_is_cluster() else get_redis_held(_live_url())


def get_live_redis_async() -> Any:
    """The asyncio client of the live state for the running event loop's process (one per URL)."""
    url = _live_url()
    if not live_redis_is_cluster():
        return get_async_redis(url)
    client = _async_cluster_clients.get(url)
    if client is None:
        client = _async_cluster_clients[url] = AsyncRedisCluster.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=None,
            max_connections=settings.REDIS_MAX_CONNECTIONS,
        )
    return client


def reset_live_clients() -> None:
    """Forget the live-state clients (a test that points the live state at another Redis or cluster)."""
    for client in _live_clients.values():
        client.close()
    _live_clients.clear()
    reset_async_clients()
