"""`make cluster` (manage.py runcluster), bounded: it comes up ready behind the balancer; per-IP limits see the
client through the balancer and cannot be fooled by a client that reaches a node directly; a killed node is named
by /health/ready and restarted while the balancer keeps answering; a killed Redis master's replica takes over
within 30 s; SIGTERM stops every process it started. Needs PostgreSQL, RabbitMQ, haproxy and redis-server
(scripts/install-cluster-deps.sh); skipped, naming what is missing, otherwise."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.db import connection

from gateway.cluster import topology

BASE_DIR = Path(__file__).resolve().parents[2]
PORT = 9420
NODE_PORTS = [PORT + 1, PORT + 2]
REDIS_PORT = 7100
REDIS_PORTS = [REDIS_PORT + i for i in range(topology.REDIS_CLUSTER_SIZE)]
READY_TIMEOUT = 60
FAILOVER_LIMIT_SECONDS = 30

pytestmark = pytest.mark.slow


def _missing() -> list[str]:
    server, cli = topology.redis_binaries()
    missing = [
        name
        for name, found in (("haproxy", topology.haproxy_binary()), ("redis-server", server), ("redis-cli", cli))
        if not found
    ]
    if not topology.wait_for_port(5672, 1):
        missing.append("RabbitMQ at 127.0.0.1:5672")
    if connection.vendor != "postgresql":
        missing.append("PostgreSQL (this run is on SQLite)")
    return missing


@pytest.fixture
def cluster(tmp_path):
    missing = _missing()
    if missing:
        pytest.skip(f"make cluster needs {', '.join(missing)}")
    params = connection.get_connection_params()
    database_url = (
        f"postgres://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', 5432)}/{connection.settings_dict['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE_PREFIX": f"njtest{uuid.uuid4().hex[:10]}_",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        "OTP_SENDS_PER_IP_PER_HOUR": "1",
        "DJANGO_SETTINGS_MODULE": "nebengjek.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "CELERY_CONCURRENCY": "1",
        "MATCHING_WORKER_CONCURRENCY": "2",
    }
    log = tmp_path / "cluster.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runcluster",
            "--port",
            str(PORT),
            "--nodes",
            "2",
            "--redis-port",
            str(REDIS_PORT),
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = Running(process, log, env["CELERY_QUEUE_PREFIX"])
    try:
        yield running
    finally:
        running.stop()
        _delete_queues(env["CELERY_QUEUE_PREFIX"])


class Running:
    def __init__(self, process: subprocess.Popen, log: Path, queue_prefix: str):
        self.process, self.log, self.queue_prefix = process, log, queue_prefix
        self.descendants: set[int] = set()

    def output(self) -> str:
        return self.log.read_text()

    def ready(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{PORT}/health/ready", timeout=5)

    def wait_until(self, predicate, what: str, timeout: float = READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"runcluster exited:\n{self.output()[-3000:]}"
            result = predicate()
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout} s: {what}\n{self.output()[-3000:]}")

    def remember_processes(self) -> None:
        self.descendants |= {child.pid for child in psutil.Process(self.process.pid).children(recursive=True)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.remember_processes()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        for pid in self.descendants:  # a failed test must not leave them to the next run
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


def _delete_queues(prefix: str) -> None:
    from kombu import Connection

    try:
        with Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=3) as broker:
            channel = broker.default_channel
            for name in (f"{prefix}celery", f"{prefix}dispatch"):
                channel.queue_delete(name)
                channel.exchange_delete(name)
    except Exception:  # never declared (the run failed early): nothing to clean
        pass


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def _try_ready(running: Running) -> httpx.Response | None:
    try:
        return running.ready()
    except httpx.HTTPError:
        return None


def _otp_request(url: str, msisdn: str, *, source: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        return client.post(f"{url}/api/v1/auth/otp/request", json={"msisdn": msisdn}, headers=headers).status_code


def _node_pid(port: int) -> int:
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "uvicorn" in " ".join(cmdline) and str(port) in cmdline:
            return process.info["pid"]
    raise AssertionError(f"no node listens on {port}")


def _redis_pid(port: int) -> int:
    for process in psutil.process_iter(["pid", "cmdline"]):
        if f"127.0.0.1:{port}" in " ".join(process.info["cmdline"] or []) and "redis-server" in " ".join(
            process.info["cmdline"] or []
        ):
            return process.info["pid"]
    raise AssertionError(f"no redis-server on {port}")


class Socket:
    """A signed-in user's socket on one node, speaking the contract's messages."""

    def __init__(self, stack: contextlib.ExitStack, port: int, user):
        from websockets.sync.client import connect

        from accounts.services import tokens_issue

        self.token = tokens_issue(user=user)["access"]
        self.ws = stack.enter_context(connect(f"ws://127.0.0.1:{port}/ws/?token={self.token}", open_timeout=10))
        self.ids = 0

    def ask(self, message: dict) -> dict:
        self.ids += 1
        self.ws.send(json.dumps({**message, "id": self.ids}))
        return self.wait(lambda m: m.get("id") == self.ids and m["type"] in ("ack", "error"))

    def wait(self, predicate, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if predicate(message):
                return message


def _a_proposal_crosses_nodes_and_the_accept_comes_back() -> None:
    """The passenger asks on node 1; the driver's socket is on node 2; the accept's push returns to node 1."""
    from accounts.tests.factories import make_driver, make_passenger

    driver, passenger = make_driver(), make_passenger()
    with contextlib.ExitStack() as stack:
        driver_socket = Socket(stack, NODE_PORTS[1], driver)
        passenger_socket = Socket(stack, NODE_PORTS[0], passenger)
        assert driver_socket.ask({"type": "beacon", "active": True})["type"] == "ack"
        assert driver_socket.ask({"type": "location", "lat": -6.2, "lng": 106.8, "accuracy_m": 5})["accepted"]
        response = httpx.post(
            f"http://127.0.0.1:{NODE_PORTS[0]}/api/v1/rides/requests",
            timeout=10,
            headers={"Authorization": f"Bearer {passenger_socket.token}"},
            json={"pickup": {"lat": -6.2, "lng": 106.8}, "destination": {"lat": -6.21, "lng": 106.8}},
        )
        assert response.status_code == 201, response.text
        proposal = driver_socket.wait(lambda m: m["type"] == "match.proposal")
        assert driver_socket.ask({"type": "match.accept", "match_id": proposal["match"]["id"]})["type"] == "ack"
        accepted = passenger_socket.wait(lambda m: m["type"] == "match.accepted")
        assert accepted["match"]["id"] == proposal["match"]["id"]


def test_make_cluster_comes_up_survives_a_dead_node_and_master_and_stops_everything(cluster):
    # given the cluster, ready behind the balancer
    ready = cluster.wait_until(lambda: (r := _try_ready(cluster)) is not None and _ok(r) and r, "ready")
    assert {name for name, state in ready.json()["checks"].items() if state == "ok"} >= {
        "node1",
        "node2",
        "redis_cluster",
        "rabbitmq",
        "database",
        "balancer",
        "celery_beat",
    }
    cluster.remember_processes()
    balancer, node = f"http://127.0.0.1:{PORT}", f"http://127.0.0.1:{NODE_PORTS[0]}"

    # per-IP limits (1 per hour here) see the client through the balancer, whatever it claims to be
    assert _otp_request(balancer, "081200000001", source="127.0.0.5", forwarded_for="10.1.1.1") == 202
    assert _otp_request(balancer, "081200000002", source="127.0.0.5", forwarded_for="10.1.1.2") == 429
    assert _otp_request(balancer, "081200000003", source="127.0.0.6") == 202
    # and a client reaching a node directly is not trusted with X-Forwarded-For
    assert _otp_request(node, "081200000004", source="127.0.0.7", forwarded_for="10.2.2.1") == 202
    assert _otp_request(node, "081200000005", source="127.0.0.7", forwarded_for="10.2.2.2") == 429
    cluster.wait_until(lambda: "SMS to +6281200000001" in cluster.output(), "the OTP SMS line in the output")

    # a proposal made on one node reaches a driver socket on another, and the accept's push comes back
    _a_proposal_crosses_nodes_and_the_accept_comes_back()

    # when node 1 dies, the balancer keeps answering and /health/ready names it until it is back
    os.kill(_node_pid(NODE_PORTS[0]), signal.SIGKILL)
    named = cluster.wait_until(
        lambda: (r := _try_ready(cluster)) is not None and r.status_code == 503 and r,
        "readiness naming the dead node",
        timeout=10,
    )
    assert "node 1 down" in named.json()["error"]["details"]["problems"]
    pings = [httpx.get(f"{balancer}/ping", timeout=5).status_code for _ in range(10)]
    assert set(pings) <= {200, 503} and 200 in pings
    cluster.wait_until(lambda: (r := _try_ready(cluster)) is not None and _ok(r), "node 1 restarted")

    # when a Redis master dies, its replica takes over within 30 s and the cluster is whole again after
    masters = topology.redis_master_ports(REDIS_PORTS)
    killed = masters[0]
    os.kill(_redis_pid(killed), signal.SIGKILL)
    started = time.monotonic()
    cluster.wait_until(
        lambda: (
            len(topology.redis_master_ports([p for p in REDIS_PORTS if p != killed])) == 3
            and killed not in topology.redis_master_ports([p for p in REDIS_PORTS if p != killed])
        ),
        "a replica took over",
        timeout=FAILOVER_LIMIT_SECONDS,
    )
    assert time.monotonic() - started < FAILOVER_LIMIT_SECONDS
    cluster.wait_until(lambda: (r := _try_ready(cluster)) is not None and _ok(r), "the old master back as a replica")
    cluster.remember_processes()

    # SIGTERM stops everything it started, ports freed
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(40) == 0
    assert [
        pid
        for pid in cluster.descendants
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ] == []
    assert [port for port in [PORT, *NODE_PORTS, *REDIS_PORTS] if topology.port_in_use(port)] == []
