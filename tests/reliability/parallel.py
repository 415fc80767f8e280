"""Run one callable in many real threads released at the same instant; each thread has its own DB connection."""

import threading
from collections import Counter

import pytest
from django.db import connections


def run_parallel(count, work, *, timeout=60):
    """Call `work(i)` in `count` threads started together (a barrier); return the results in index order.

    An exception raised in a thread is returned in its slot (never swallowed); every thread closes its database
    connections so the test database can be flushed and dropped afterwards.
    """
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=timeout)
            results[i] = work(i)
        except BaseException as exc:  # reported to the caller, which asserts on it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
    return results


def at_once(*calls):
    """Run the calls in parallel threads released together; their results (or exceptions) in order."""
    return run_parallel(len(calls), lambda i: calls[i]())


def raised(results):
    return [result for result in results if isinstance(result, BaseException)]


def tally(responses):
    """Counter of (status, error code or None) over HTTP responses."""

    def key(response):
        body = response.json() if response.content else {}
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        return response.status_code, code

    return Counter(key(response) for response in responses)


def _on_postgres():
    from django.conf import settings

    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


# SQLite's in-memory test database serialises writers at the table level: parallel tests need PostgreSQL (CI has it).
postgres_only = pytest.mark.skipif(not _on_postgres(), reason="parallel writers need PostgreSQL (DATABASE_URL)")
