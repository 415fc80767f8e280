"""`make run` on a machine where something already runs: a busy HTTP port, another checkout's embedded Redis."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nebengjek import embedded_redis

ROOT = Path(__file__).resolve().parents[2]


def _free_port(limit=55000):
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < limit:
            return port


def _runstack(port, env, **kwargs):
    command = [sys.executable, "manage.py", "runstack", "--port", str(port), "--no-celery"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def _embedded_env(tmp_path, **extra):
    drop = {"REDIS_URL", "EMBEDDED_REDIS_PORT", "PORT", "DJANGO_SETTINGS_MODULE"}  # manage.py's own settings
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "VAR_DIR": str(tmp_path / "var"), **extra}


def test_runstack_on_a_busy_port_names_the_holder_and_exits_non_zero(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        stdout, stderr = _runstack(port, {**os.environ, "VAR_DIR": str(tmp_path)}).communicate(timeout=60)

    assert f"port {port} on 127.0.0.1 is in use by process {os.getpid()}" in stderr
    assert "NebengJek on http" not in stdout


def test_runstack_refuses_the_embedded_redis_of_another_checkout(tmp_path):
    redis_port = _free_port()
    other = embedded_redis.start(redis_port, tmp_path / "other-checkout" / "var" / "redis")
    try:
        process = _runstack(_free_port(), _embedded_env(tmp_path, EMBEDDED_REDIS_PORT=str(redis_port)))
        stdout, stderr = process.communicate(timeout=60)
    finally:
        embedded_redis.stop(other)

    assert process.returncode != 0
    assert f"port {redis_port} already has a Redis of another checkout" in stderr
    assert "NebengJek on http" not in stdout


def test_the_embedded_redis_follows_the_http_port(tmp_path):
    port = _free_port()
    process = _runstack(port, _embedded_env(tmp_path))
    try:
        first_line = process.stdout.readline()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)

    assert first_line.strip() == f"embedded redis-server on 127.0.0.1:{port + 10000}"
    assert not embedded_redis.is_answering(port + 10000)  # stopped with runstack, even before the stack was up


@pytest.mark.parametrize("port", ["8000", "8123"])
def test_the_settings_derive_the_embedded_redis_port_from_port(port):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "EMBEDDED_REDIS_PORT"}}
    printed = subprocess.run(
        [sys.executable, "-c", "import nebengjek.settings as s; print(s.REDIS_URL)"],
        cwd=ROOT,
        env={**env, "PORT": port},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed.strip() == f"redis://127.0.0.1:{int(port) + 10000}/0"
