"""Where a server process runs its synchronous (ORM) work: REST views and the socket handlers that touch the database.

asgiref's default puts every `thread_sensitive` call of a process into ONE thread: each view and each socket answer
(`match.accept`) waits behind all the others, and that thread spends much of its time waiting on PostgreSQL round
trips while the CPU has nothing else to do. With ASGI_SYNC_THREADS > 1 the calls run in a pool of that many threads,
each with its own database connection (kept CONN_MAX_AGE, checked before and after each call, as Django does per
request). 1 keeps asgiref's one thread (the default on SQLite, whose one file takes one writer at a time).

The pool also counts the calls waiting for a thread: the server's backlog, read by the door (matching.overload).
"""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

_lock = threading.Lock()
_pool: dict[str, Any] = {}
_waiting = [0]  # calls submitted and not finished, all threads of this process
_lag = {"seconds": 0.0, "at": 0.0}  # the event loop's latest lateness, and when it was measured
_monitors: dict[int, asyncio.Task] = {}
_loops: dict[int, asyncio.AbstractEventLoop] = {}
LAG_PROBE_SECONDS = 0.05


def size() -> int:
    return max(1, int(getattr(settings, "ASGI_SYNC_THREADS", 1)))


def _executor() -> ThreadPoolExecutor:
    with _lock:
        pool = _pool.get("executor")
        if pool is None or _pool.get("size") != size():
            pool = _pool["executor"] = ThreadPoolExecutor(max_workers=size(), thread_name_prefix="sync-pool")
            _pool["size"] = size()
        return pool


def in_flight() -> int:
    """Synchronous calls of this process started and not finished (running or waiting for a thread)."""
    return _waiting[0]


def _counted(function: Callable, *, clean_connections: bool) -> Callable:
    def run(*args, **kwargs):
        if clean_connections:
            close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            if clean_connections:
                close_old_connections()

    return run


def loop_lag_seconds() -> float:
    """How late this process's event loop last ran a LAG_PROBE_SECONDS timer (0 when no loop is watched, or the last
    probe is stale: a loop too busy to run its probe for a second counts as that late)."""
    if not any(loop.is_running() for loop in _loops.values()):
        return 0.0  # no loop of this process is serving (a closed test loop, a management command)
    since = time.monotonic() - _lag["at"]
    return max(_lag["seconds"], since - 1.0 if since > 1.0 else 0.0)


async def _watch_loop() -> None:
    from nebengjek import metrics

    while True:
        before = time.monotonic()
        await asyncio.sleep(LAG_PROBE_SECONDS)
        now = time.monotonic()
        lag = max(0.0, now - before - LAG_PROBE_SECONDS)
        # up at once, down over ~1 s
        _lag["seconds"] = lag if lag > _lag["seconds"] else 0.95 * _lag["seconds"] + 0.05 * lag
        _lag["at"] = now
        metrics.EVENT_LOOP_LAG_SECONDS.set(_lag["seconds"])
        metrics.SYNC_BACKLOG.set(_waiting[0])


def watch_event_loop() -> None:
    """Start measuring the running loop's lag (once per loop); called from the server's async code."""
    loop = asyncio.get_running_loop()
    task = _monitors.get(id(loop))
    if task is None or task.done():
        for key in [key for key, known in _loops.items() if known.is_closed()]:
            _loops.pop(key, None), _monitors.pop(key, None)
        _lag["at"], _lag["seconds"] = time.monotonic(), 0.0
        _loops[id(loop)] = loop
        _monitors[id(loop)] = loop.create_task(_watch_loop())


async def run_sync(function: Callable, *args, clean_connections: bool = True, **kwargs) -> Any:
    """`function(*args, **kwargs)` off the event loop: in the pool, or in asgiref's one thread when the pool is 1."""
    watch_event_loop()
    _waiting[0] += 1
    try:
        wrapped = _counted(function, clean_connections=clean_connections)
        if size() == 1:
            return await sync_to_async(wrapped, thread_sensitive=True)(*args, **kwargs)
        return await sync_to_async(wrapped, thread_sensitive=False, executor=_executor())(*args, **kwargs)
    finally:
        _waiting[0] -= 1


def database_sync_to_async(function: Callable) -> Callable:
    """Drop-in for channels.db.database_sync_to_async that runs in the pool (old connections closed around it)."""

    async def call(*args, **kwargs):
        return await run_sync(function, *args, **kwargs)

    return call
