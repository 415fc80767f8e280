"""The batched dispatch's windows in Redis: per H3 cell, the requests waiting for the next assignment.

The first request to join an empty cell window opens it (a flag set NX) and schedules the cell's window task with a
countdown of MATCHING_BATCH_WINDOW_MS; every request joining while the flag is set waits for that task. The task
first clears the flag, then drains the set: a request joining in between opens the next window, so none is stranded.
Cells are independent: each has its own flag, set and task, and a window never waits on another.
"""

import h3
from django.conf import settings

from nebengjek import redis_keys
from nebengjek.redis import get_redis


def window_cell(*, lat: float, lng: float) -> str:
    """The H3 cell (settings.MATCHING_BATCH_H3_RESOLUTION) whose window a pickup at (lat, lng) joins."""
    return h3.latlng_to_cell(lat, lng, settings.MATCHING_BATCH_H3_RESOLUTION)


def window_join(*, cell: str, request_ids: list[str]) -> bool:
    """Add the requests to the cell's waiting set; True when this call opened the window (the caller schedules
    the window's task)."""
    members = redis_keys.key(redis_keys.MATCHING_WINDOW, cell=cell)
    flag = redis_keys.key(redis_keys.MATCHING_WINDOW_OPEN, cell=cell)
    open_ms = settings.MATCHING_BATCH_WINDOW_MS + redis_keys.MATCHING_WINDOW_OPEN_GRACE_MS
    pipe = get_redis().pipeline(transaction=True)
    pipe.sadd(members, *request_ids)
    pipe.expire(members, redis_keys.MATCHING_WINDOW_TTL)
    pipe.set(flag, "1", nx=True, px=open_ms)
    return bool(pipe.execute()[2])


def window_drain(*, cell: str) -> list[str]:
    """Close the cell's window and take its waiting requests (the flag first: a request joining now opens the next
    window)."""
    members = redis_keys.key(redis_keys.MATCHING_WINDOW, cell=cell)
    redis = get_redis()
    redis.delete(redis_keys.key(redis_keys.MATCHING_WINDOW_OPEN, cell=cell))
    pipe = redis.pipeline(transaction=True)
    pipe.smembers(members)
    pipe.delete(members)
    waiting = pipe.execute()[0]
    return sorted(member.decode() if isinstance(member, bytes) else member for member in waiting)
