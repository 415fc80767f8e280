"""The compose `cluster` profile describes the topology `make cluster` runs (docs/cluster.md): a balancer in front of
two ASGI nodes that trust exactly that balancer, the live state and the channel layer on a 3+3 Redis Cluster, Celery
on RabbitMQ with exactly one beat. No Docker engine runs in CI, so this reads the file; haproxy checks its config."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
HAPROXY_CFG = ROOT / "deploy" / "cluster" / "haproxy.cfg"


def cluster_services():
    return {name: service for name, service in COMPOSE["services"].items() if "cluster" in service.get("profiles", [])}


def command_of(service):
    command = service.get("command", [])
    return " ".join(command) if isinstance(command, list) else command


def test_the_profile_runs_two_nodes_behind_one_balancer_that_the_nodes_alone_trust():
    services = cluster_services()
    nodes = sorted(name for name, service in services.items() if not command_of(service) and "build" in service)
    balancer = services["cluster-balancer"]
    balancer_address = balancer["networks"]["cluster"]["ipv4_address"]
    backends = [line.split()[2].split(":")[0] for line in HAPROXY_CFG.read_text().splitlines() if "    server " in line]

    assert nodes == ["cluster-web-1", "cluster-web-2"] and backends == nodes
    assert {volume.split(":")[0] for volume in balancer["volumes"]} == {
        "./deploy/cluster/haproxy.cfg",
        "./deploy/cluster/errors",
    }
    assert "option forwardfor" in HAPROXY_CFG.read_text()
    assert all(services[node]["environment"]["FORWARDED_ALLOW_IPS"] == balancer_address for node in nodes)


def test_the_live_state_and_the_channel_layer_sit_on_a_cluster_of_three_masters_and_three_replicas():
    services = cluster_services()
    redis_nodes = sorted(name for name in services if name.startswith("cluster-redis-") and name[-1].isdigit())
    create = command_of(services["cluster-redis-create"])
    env = services["cluster-web-1"]["environment"]

    assert len(redis_nodes) == 6
    assert all("--cluster-enabled yes" in command_of(services[name]) for name in redis_nodes)
    assert "--cluster-replicas 1" in create and all(f"{name}:6379" in create for name in redis_nodes)
    assert env["LIVE_REDIS_CLUSTER"] == "true" and env["LIVE_REDIS_URL"].split("//")[1].split(":")[0] in redis_nodes
    channel_hosts = [url.split("//")[1].split(":")[0] for url in env["CHANNEL_REDIS_URLS"].split(",")]
    assert len(channel_hosts) == 3 and set(channel_hosts) <= set(redis_nodes)


def test_celery_runs_on_rabbitmq_with_exactly_one_beat_in_the_profile():
    services = cluster_services()
    beats = [name for name, service in services.items() if " beat" in command_of(service)]
    workers = [name for name, service in services.items() if " worker" in command_of(service)]

    assert beats == ["cluster-beat"]
    assert sorted(workers) == ["cluster-worker", "cluster-worker-matching"]
    assert all(services[name]["environment"]["CELERY_BROKER_URL"].startswith("amqp://") for name in beats + workers)
    assert "rabbitmq" in services and "rabbitmq" in services["cluster-web-1"]["depends_on"]


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed: scripts/install-cluster-deps.sh")
def test_haproxy_accepts_the_balancers_config_with_the_profiles_mounts(tmp_path):
    config = HAPROXY_CFG.read_text()
    for volume in cluster_services()["cluster-balancer"]["volumes"]:  # the container's paths, as compose mounts them
        source, target = volume.split(":")[:2]
        config = config.replace(target, str(ROOT / source))
    (tmp_path / "haproxy.cfg").write_text(config)

    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True, timeout=30
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr
