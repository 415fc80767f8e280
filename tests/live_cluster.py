"""A throwaway Redis Cluster for the live state in tests: 6 redis-servers (3 masters, 3 replicas) on
LIVE_CLUSTER_TEST_PORT..+5 (default 7200; bus ports +10000), loopback only, made with `redis-cli --cluster create`.

As a pytest plugin (`pytest -p tests.live_cluster locations matching`) it points every test's live state at the
cluster (LIVE_REDIS_URL + LIVE_REDIS_CLUSTER), flushed before each test: the existing tests then run on it. Test
modules that need the cluster themselves use the `live_cluster` fixture. Without redis-server and redis-cli the
tests that need it are skipped. Starting is bounded (CLUSTER_START_TIMEOUT seconds).
"""

import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

PORT = int(os.environ.get("LIVE_CLUSTER_TEST_PORT", "7200"))
NODES = 6
CLUSTER_START_TIMEOUT = 60


class RedisClusterProcs:
    """3 masters (and `replicas` replicas each), cluster-enabled redis-servers, nothing kept on disk."""

    def __init__(self, port=PORT, replicas=1):
        self.replicas = replicas
        self.ports = [port + i for i in range(NODES // 2 * (1 + replicas))]
        self.url = f"redis://127.0.0.1:{port}/0"
        self.dir = tempfile.mkdtemp(prefix=f"nj-cluster-{port}-")
        self.processes = {}

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        deadline = time.monotonic() + CLUSTER_START_TIMEOUT
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            _wait(lambda p=port: redis.Redis(port=p).ping(), deadline, f"redis-server on {port}")
        made = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{port}" for port in self.ports],
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=max(1, deadline - time.monotonic()),
        )
        if made.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {made.stdout[-2000:]} {made.stderr[-2000:]}")
        _wait(self.healthy, deadline, "the cluster to be ok on every node")
        return self

    def start_node(self, port):
        node_dir = os.path.join(self.dir, str(port))
        os.makedirs(node_dir, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                node_dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def healthy(self) -> bool:
        for port in self.ports:
            info = redis.Redis(port=port, decode_responses=True).cluster("INFO")
            if str(info.get("cluster_state")) != "ok" or str(info.get("cluster_slots_assigned")) != "16384":
                return False
        masters = [n for n in self.nodes() if "master" in n["flags"]]
        return len(masters) == NODES // 2 and all(
            redis.Redis(port=m["port"], decode_responses=True).info("replication")["connected_slaves"] >= self.replicas
            for m in masters
        )

    def nodes(self) -> list[dict]:
        """[{id, port, flags}] of the cluster's nodes, as one node sees them."""
        lines = redis.Redis(port=self.ports[0], decode_responses=True).execute_command("CLUSTER NODES")
        if isinstance(lines, dict):  # redis-py parses CLUSTER NODES into {address: fields}
            return [
                {"id": fields["node_id"], "port": int(address.split(":")[1].split("@")[0]), "flags": fields["flags"]}
                for address, fields in lines.items()
            ]
        rows = [line.split() for line in lines.splitlines() if line.strip()]
        return [{"id": row[0], "port": int(row[1].split(":")[1].split("@")[0]), "flags": row[2]} for row in rows]

    def master_port_of(self, key: str) -> int:
        """The port of the master that holds `key`'s slot."""
        slot = redis.Redis(port=self.ports[0]).execute_command("CLUSTER KEYSLOT", key)
        for start, end, master, *_ in redis.Redis(port=self.ports[0]).execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise LookupError(key)

    def flush(self):
        for node in self.nodes():
            if "master" in node["flags"]:
                redis.Redis(port=node["port"]).flushall()

    def stop(self):
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            process.wait(10)
        self.processes.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def _wait(condition, deadline, what):
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.ConnectionError, redis.ResponseError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


_running = []


def running_cluster() -> RedisClusterProcs:
    """The process's test cluster, started on first use (stopped by the session fixture that started it)."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli are not installed: no Redis Cluster to test on")
    if not _running:
        try:
            cluster = RedisClusterProcs().start()
        except RuntimeError:  # once more from scratch (a port still held by a process that was just stopped)
            time.sleep(1)
            cluster = RedisClusterProcs().start()
        _running.append(cluster)
    return _running[0]


@pytest.fixture(scope="session", name="live_cluster_session")
def live_cluster_session_fixture():
    started_here = not _running
    cluster = running_cluster()
    yield cluster
    if started_here:
        cluster.stop()
        _running.clear()


@pytest.fixture(name="live_cluster")
def live_cluster_fixture(live_cluster_session, settings):
    """The live state on the test cluster, empty, for this test; yields the RedisClusterProcs."""
    from nebengjek.redis import reset_live_clients

    live_cluster_session.flush()
    settings.LIVE_REDIS_URL, settings.LIVE_REDIS_CLUSTER = live_cluster_session.url, True
    reset_live_clients()
    _flushers_forget()
    yield live_cluster_session
    reset_live_clients()
    _flushers_forget()


def _flushers_forget():
    from locations import live

    live._flushers.clear()
    live._last_flusher[:] = [None, None]


@pytest.fixture(autouse=True)
def _live_state_on_the_cluster(live_cluster):
    """As a plugin (-p tests.live_cluster): every test's live state on the cluster."""
