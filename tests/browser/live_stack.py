"""A live stack for tests that need a real ASGI server with WebSockets (pytest-django's live_server is WSGI).

`manage.py runstack` (uvicorn, a Celery worker and beat) on a free port, with its own SQLite file, Redis database
and log file; the tests talk to it only over HTTP, the socket and the browser.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
STAFF_MSISDN, STAFF_PASSWORD = "+628110000077", "browser-test-operator-pw"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """`manage.py runstack` in a subprocess with its own database file, Redis database and log file."""

    def __init__(self, workdir, *, redis_url=None, channel_prefix="njbrowser"):
        """`redis_url`: default the browser tests' own database (7) on the suite's Redis server."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "stack.log"
        redis_base = settings.REDIS_URL.rsplit("/", 1)[0]
        self.env = {
            **{key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"},
            "DJANGO_SETTINGS_MODULE": "nebengjek.settings",
            "VAR_DIR": str(workdir),
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "REDIS_URL": redis_url or f"{redis_base}/7",  # not the suite's database, which every test flushes
            "CHANNEL_PREFIX": channel_prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "OPS_TILE_URL": "",  # no network for tiles here: the page must work without them
            "SEED_STAFF_PASSWORD": STAFF_PASSWORD,
            "SEED_STAFF_MSISDN": STAFF_MSISDN,
            "WEB_CONCURRENCY": "1",
            "CELERY_CONCURRENCY": "1",
        }
        self.process = None

    def manage(self, *args):
        """Run a management command against this stack's database and Redis; fail with its output."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr[-3000:]}"
        return result

    def start(self):
        redis.Redis.from_url(self.env["REDIS_URL"]).flushdb()  # its own database: nothing left from an earlier run
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the stack did not become ready:\n" + self.log_path.read_text()[-3000:])

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()

    def sms_code(self, msisdn, timeout=15):
        """The OTP the development SMS backend printed to the server log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.findall(
                rf"SMS to {re.escape(msisdn)}: Your NebengJek code is (\d{{6}})", self.log_path.read_text()
            )
            if found:
                return found[-1]
            time.sleep(0.2)
        raise AssertionError(f"no SMS to {msisdn} in the server log")
