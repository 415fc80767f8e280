"""The pieces of `make cluster` that are not Django: the Redis Cluster's processes and its creation, the HAProxy
configuration, and the readiness of the whole deployment. Loopback only; every process in the foreground."""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

# HAProxy connects to the nodes from this loopback address, and the nodes trust X-Forwarded-For from it alone:
# a client that reaches a node directly (127.0.0.1, PORT+i) cannot pass for another address.
BALANCER_SOURCE_ADDRESS = "127.0.0.2"
REDIS_CLUSTER_SIZE = 6  # 3 masters, 3 replicas
REDIS_CLUSTER_NODE_TIMEOUT_MS = 5000  # a master unreachable this long is failed over to its replica
REDIS_RESTART_DELAY_SECONDS = 2 * REDIS_CLUSTER_NODE_TIMEOUT_MS / 1000 + 2  # after the failover: back as a replica

HAPROXY_CFG = """global
    maxconn 4096

defaults
    mode http
    option dontlognull
    timeout connect 2s
    timeout client 65s
    timeout server 65s
    timeout tunnel 1h
    timeout http-request 10s
    # A node that dies mid-request: the client gets the API's 503 (with Retry-After), never a bare 502/504.
    errorfile 502 {errors_dir}/503.http
    errorfile 503 {errors_dir}/503.http
    errorfile 504 {errors_dir}/503.http

frontend nebengjek
    bind 127.0.0.1:{port}
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    use_backend readiness if {{ path /health/ready }}
    default_backend nodes

backend nodes
    balance leastconn
    option httpchk GET /ping
    http-check expect status 200
    default-server check inter 1s fall 2 rise 1 source {source}
    retry-on conn-failure
    retries 3
    option redispatch
{servers}

backend readiness
    server supervisor 127.0.0.1:{readiness_port} source {source}
"""

ERROR_503 = """HTTP/1.1 503 Service Unavailable\r
Content-Type: application/json\r
Retry-After: 1\r
Cache-Control: no-store\r
Connection: close\r
\r
{"error": {"code": "service_unavailable", "message": "The service is briefly unavailable, retry.", "details": {}}}
"""


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or shutil.which("/usr/sbin/haproxy")


def redis_binaries() -> tuple[str | None, str | None]:
    return shutil.which("redis-server"), shutil.which("redis-cli")


def write_haproxy_config(directory: Path, *, port: int, node_ports: list[int], readiness_port: int) -> Path:
    errors_dir = directory / "errors"
    errors_dir.mkdir(parents=True, exist_ok=True)
    (errors_dir / "503.http").write_text(ERROR_503)
    servers = "\n".join(f"    server node{i} 127.0.0.1:{node_port}" for i, node_port in enumerate(node_ports, 1))
    path = directory / "haproxy.cfg"
    path.write_text(
        HAPROXY_CFG.format(
            port=port,
            servers=servers,
            readiness_port=readiness_port,
            source=BALANCER_SOURCE_ADDRESS,
            errors_dir=errors_dir,
        )
    )
    return path


def redis_cluster_node_command(binary: str, port: int, directory: Path) -> list[str]:
    """One redis-server of the cluster, in the foreground, keeping nothing but its nodes.conf (so that a restarted
    one rejoins as what it was); replicas may always take over (validity factor 0), and the masters that are up keep
    serving their slots while another's failover runs (full coverage not required)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "no",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        str(directory / "nodes.conf"),
        "--cluster-node-timeout",
        str(REDIS_CLUSTER_NODE_TIMEOUT_MS),
        "--cluster-replica-validity-factor",
        "0",
        "--cluster-require-full-coverage",
        "no",
        "--cluster-allow-reads-when-down",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        str(directory),
        "--maxclients",
        "10000",
        "--logfile",
        str(directory / "redis.log"),
    ]


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            return False
        except OSError:
            return True


def redis_cluster_create(cli: str, ports: list[int], timeout: float = 30.0) -> None:
    """`redis-cli --cluster create` with one replica per master, then wait until it is ok and every replica in sync."""
    addresses = [f"127.0.0.1:{port}" for port in ports]
    subprocess.run(
        [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        problems = redis_cluster_health(ports).problems
        if not problems:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the Redis Cluster on {ports[0]}..{ports[-1]} is not ready: {'; '.join(problems)}")


def _cluster_state(port: int) -> str | None:
    try:
        return _client(port).cluster("info").get("cluster_state")
    except (redis.RedisError, AttributeError):
        return None


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=1, decode_responses=True)


@dataclass
class RedisClusterHealth:
    problems: list[str] = field(default_factory=list)
    masters: list[int] = field(default_factory=list)


def redis_cluster_health(ports: list[int]) -> RedisClusterHealth:
    """Every node answers, the cluster state is ok, 3 masters cover the slots and each has a replica in sync."""
    health = RedisClusterHealth()
    roles = {}
    for port in ports:
        try:
            roles[port] = _client(port).info("replication")
        except redis.RedisError:
            health.problems.append(f"redis {port} down")
    states = {_cluster_state(port) for port in roles}
    if "ok" not in states:
        health.problems.append("redis cluster state not ok")
    health.masters = sorted(port for port, info in roles.items() if info.get("role") == "master")
    for port in health.masters:
        info = roles[port]
        in_sync = [
            info[key]
            for key in info
            if key.startswith("slave") and isinstance(info[key], dict) and info[key].get("state") == "online"
        ]
        if not in_sync:
            health.problems.append(f"redis master {port} has no replica in sync")
    for port, info in roles.items():
        if info.get("role") == "slave" and info.get("master_link_status") != "up":
            health.problems.append(f"redis replica {port} not in sync")
    if len(health.masters) < REDIS_CLUSTER_SIZE // 2:
        health.problems.append(f"redis cluster has {len(health.masters)} masters of {REDIS_CLUSTER_SIZE // 2}")
    return health


def redis_master_ports(ports: list[int]) -> list[int]:
    """The ports of the nodes that are masters now (by the cluster's own view), lowest first."""
    for port in ports:
        try:
            nodes = _client(port).cluster("nodes")
        except redis.RedisError:
            continue
        return sorted(
            int(address.split("@")[0].rsplit(":", 1)[1])
            for address, node in nodes.items()
            if "master" in node.get("flags", "") and "fail" not in node.get("flags", "") and node.get("slots")
        )
    return []
