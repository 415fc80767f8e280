"""Nothing lives in one process's memory: two real ASGI server processes share only Redis and the database.

The servers run against the test's own database: PostgreSQL's test database directly, or for SQLite (whose test
database is in memory) a file copy of it made once the givens are written.
"""

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
from contextlib import closing

import pytest
from django.conf import settings
from django.db import connection
from websockets.sync.client import connect as ws_connect

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger
from gateway.management.commands.runstack import Command as RunStack
from locations.tests.helpers import MONAS, north_of

pytestmark = pytest.mark.slow

DEADLINE_S = 20


def free_port():
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_for_servers(tmp_path):
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if "memory" not in name and name != ":memory:":
            return f"sqlite:///{name}"
        copy = tmp_path / "shared.sqlite3"
        connection.ensure_connection()
        with closing(sqlite3.connect(copy)) as target:
            connection.connection.backup(target)
        return f"sqlite:///{copy}"
    pytest.skip(f"no shared database for {connection.vendor}")


def start_server(port, database_url, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "nebengjek.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "VAR_DIR": str(tmp_path / f"var-{port}"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
    }
    command = RunStack()._server_command({"host": "127.0.0.1", "port": port, "workers": 1, "server": "uvicorn"})
    # as runstack starts it: with its database pool
    return subprocess.Popen(
        command,
        env=RunStack.server_env(env),
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / f"server-{port}.log", "wb"),
    )


def wait_until_up(port, process, deadline):
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server on {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server on {port} did not answer in time")


def rest(port, method, path, token, body=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def socket_to(port, token):
    return ws_connect(
        f"ws://127.0.0.1:{port}/ws/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=5,
        proxy=None,
    )


def until(ws, predicate):
    """The first message from `ws` that satisfies `predicate` (others are skipped), within the deadline."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        if predicate(message):
            return message
    raise AssertionError("no such message in time")


def go_online(ws, point):
    ws.send(json.dumps({"type": "beacon", "id": "b", "active": True}))
    until(ws, lambda m: m.get("id") == "b")
    ws.send(json.dumps({"type": "location", "id": "l", "lat": point[0], "lng": point[1]}))
    assert until(ws, lambda m: m.get("id") == "l") == {"type": "ack", "id": "l", "accepted": True}


@pytest.fixture
def two_servers(tmp_path):
    people = {"driver_a": make_driver(), "driver_b": make_driver(), "passenger": make_passenger()}
    tokens = {name: tokens_issue(user=user)["access"] for name, user in people.items()}
    database_url = database_url_for_servers(tmp_path)
    ports = [free_port(), free_port()]
    processes = [start_server(port, database_url, tmp_path) for port in ports]
    try:
        deadline = time.monotonic() + DEADLINE_S
        for port, process in zip(ports, processes, strict=True):
            wait_until_up(port, process, deadline)
        yield ports, people, tokens
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_two_server_processes_share_sockets_pushes_and_the_live_index(two_servers):
    (port_a, port_b), people, tokens = two_servers
    with socket_to(port_a, tokens["driver_a"]) as on_a, socket_to(port_b, tokens["driver_b"]) as on_b:
        go_online(on_a, north_of(MONAS, 300))
        go_online(on_b, north_of(MONAS, 600))

        for port in (port_a, port_b):
            nearby = rest(port, "GET", f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}", tokens["passenger"])
            assert [d["id"] for d in nearby["drivers"]] == [str(people["driver_a"].id), str(people["driver_b"].id)]

        assert rest(port_b, "POST", "/api/v1/drivers/me/beacon", tokens["driver_a"], {"active": False}) == {
            "active": False
        }
        pushed = until(on_a, lambda m: m.get("type") == "beacon.updated" and m["active"] is False)
        assert pushed["seq"] == 2
