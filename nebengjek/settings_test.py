"""Test settings: the real settings, with Celery eager and a private embedded Redis when REDIS_URL is unset."""

import os
import socket


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A port of its own (inherited by the processes the tests start): never `make run`'s Redis, nor another checkout's.
if "REDIS_URL" not in os.environ:
    os.environ.setdefault("EMBEDDED_REDIS_PORT", str(_free_port()))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("CHANNEL_PREFIX", "njtest")

from nebengjek.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The test process's event loops are the tests' own (communicators, a busy runner): their lag is not a server's.
# Tests of the door set it themselves (matching/tests/test_overload.py).
MATCHING_SHED_LOOP_LAG_MS = 0
