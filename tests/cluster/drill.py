"""`make drill`: the failure drill of the multi-node topology, on loopback, bounded (a few minutes).

It starts `manage.py runcluster` (its own ports: --port, default 8800, and --redis-port, default 7000), seeds drivers
and passengers, and runs `manage.py simulate`'s drivers and passengers through the balancer, with clients that
reconnect through the balancer and send `resume` with the last seq seen (and fetch a gap in seqs with
GET /api/v1/events). Under that load, in turn:
  1. an ASGI node is killed (SIGKILL): its sockets reconnect and resume; REST answers are tallied by status;
  2. a Redis master is killed: seconds until its replica took over, until location ingest and nearby answer again;
  3. the default queue's Celery worker is killed (SIGKILL), and then RabbitMQ drops every connection of the
     deployment (`rabbitmqctl close_connection` for each of ours; `--restart-rabbitmq` restarts the broker
     instead, on a machine that is yours alone): every completed ride must be settled exactly once, and
     `reconcile_ledger` clean.
At the end every user's stored events are compared with what their clients received: an event stored (acknowledged)
and never received, live or by resume, is lost. Prints the figures and writes them as JSON (--json).

Needs DATABASE_URL (a scratch PostgreSQL database: it is seeded) and RabbitMQ; RabbitMQ queues get a unique prefix.
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DRILL_PORT", "8800")))
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("CLUSTER_REDIS_PORT", "7000")))
    parser.add_argument("--drivers", type=int, default=24)
    parser.add_argument("--passengers", type=int, default=12)
    parser.add_argument("--phase", type=float, default=25.0, help="seconds of steady load between faults")
    parser.add_argument(
        "--restart-rabbitmq",
        action="store_true",
        help="restart the RabbitMQ application (rabbitmqctl stop_app/start_app) instead of dropping "
        "the deployment's connections: only on a machine whose RabbitMQ is yours alone",
    )
    parser.add_argument("--json", dest="json_path", default=None)
    return parser.parse_args(argv)


# What the drill's own process needs to seed and check the deployment (the stores runcluster starts), kept out of
# runcluster's environment, which starts those stores itself.
_DRILL_ONLY_ENV: dict[str, str] = {}


def _stores_of_the_deployment(args) -> dict[str, str]:
    """The live state on the deployment's Redis Cluster; with no REDIS_URL, the small Redis runcluster then starts
    (pinned to the port it will use)."""
    env = {"LIVE_REDIS_CLUSTER": "true", "LIVE_REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0"}
    if "REDIS_URL" not in os.environ:
        port = os.environ.setdefault("EMBEDDED_REDIS_PORT", str(args.port + 10_000))
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return env


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("make drill needs DATABASE_URL=postgres://... (a scratch database: it is seeded)")
    os.environ.setdefault("CELERY_QUEUE_PREFIX", f"njdrill{uuid.uuid4().hex[:8]}_")
    os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    os.environ["DJANGO_SETTINGS_MODULE"] = "nebengjek.settings"
    os.environ.setdefault("VAR_DIR", str(BASE_DIR / "var" / "drill"))
    _DRILL_ONLY_ENV.update(_stores_of_the_deployment(args))
    os.environ.update(_DRILL_ONLY_ENV)
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    figures = Drill(args).run()
    print(render(figures))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2))
    sys.exit(0 if figures["verdict"] == "pass" else 1)


class Drill:
    def __init__(self, args):
        from gateway.cluster import topology

        self.args, self.topology = args, topology
        self.url = f"http://127.0.0.1:{args.port}"
        self.node_ports = [args.port + 1, args.port + 2]
        self.redis_ports = [args.redis_port + i for i in range(topology.REDIS_CLUSTER_SIZE)]
        self.log = Path(os.environ["VAR_DIR"]) / "drill-cluster.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.cluster = None
        self.figures: dict = {"faults": {}}

    # --- the deployment --------------------------------------------------------------------------------------
    def start_cluster(self) -> None:
        env = {key: value for key, value in os.environ.items() if key not in _DRILL_ONLY_ENV}
        env.update(CELERY_TASK_ALWAYS_EAGER="false", PYTHONUNBUFFERED="1")
        self.cluster = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runcluster",
                "--port",
                str(self.args.port),
                "--nodes",
                "2",
                "--redis-port",
                str(self.args.redis_port),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.cluster.poll() is not None:
                raise SystemExit(f"runcluster exited; see {self.log}:\n{self.log.read_text()[-2000:]}")
            if self.ready():
                return
            time.sleep(0.5)
        raise SystemExit(f"the cluster was not ready within 120 s; see {self.log}")

    def ready(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/health/ready", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_cluster(self) -> None:
        if self.cluster is not None and self.cluster.poll() is None:
            self.cluster.send_signal(signal.SIGTERM)
            try:
                self.cluster.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.cluster.pid, signal.SIGKILL)
        _delete_queues(os.environ["CELERY_QUEUE_PREFIX"])

    # --- the run ---------------------------------------------------------------------------------------------
    def run(self) -> dict:
        from django.core.management import call_command

        started = time.monotonic()
        try:
            self.start_cluster()
            self.figures["cluster_ready_s"] = round(time.monotonic() - started, 1)
            call_command(
                "seed",
                drivers=self.args.drivers,
                passengers=self.args.passengers,
                verbosity=0,
                stdout=open(os.devnull, "w"),
            )
            asyncio.run(self.load_and_faults())
            self.figures["settlement"] = self.settlement()
        finally:
            self.stop_cluster()
        self.figures["total_s"] = round(time.monotonic() - started, 1)
        self.figures["verdict"] = verdict(self.figures)
        return self.figures

    async def load_and_faults(self) -> None:
        from gateway.management.commands import simulate
        from tests.cluster.drill_clients import Probe, install, last_seqs

        install(simulate)
        phase = self.args.phase
        duration = 4 * phase + 10
        sim = simulate.Simulation(
            url=self.url,
            drivers=self.args.drivers,
            passengers=self.args.passengers,
            duration_s=duration,
            seed=7,
            speed_kmh=120,
            tick_s=1.0,
            think_s=4.0,
            drain_s=45,
            out=open(os.devnull, "w"),
        )
        probe = Probe(self.url, await asyncio.to_thread(last_seqs))
        load = asyncio.create_task(sim.run())
        probing = asyncio.create_task(probe.run(sim))
        await asyncio.sleep(phase)
        self.figures["faults"]["asgi_node"] = await self.kill_node(sim, probe)
        await asyncio.sleep(phase)
        self.figures["faults"]["redis_master"] = await self.kill_redis_master(probe)
        await asyncio.sleep(phase)
        self.figures["faults"]["celery_worker_and_rabbitmq"] = await self.kill_worker_and_drop_broker()
        await load
        probe.stop()
        await probing
        self.figures["load"] = sim.summary(duration)
        self.figures["events"] = await probe.events_lost(sim)
        self.figures["rest_statuses"] = dict(sorted(probe.rest_statuses.items()))
        node = self.figures["faults"]["asgi_node"]
        node["rest_statuses_in_the_30_s_after"] = dict(sorted(probe.statuses_since(node.pop("killed_at")).items()))

    async def kill_node(self, sim, probe) -> dict:
        before = {client.id for client in probe.clients(sim)}
        killed_at = time.monotonic()
        probe.mark("node killed")
        os.kill(_pid_of("uvicorn", str(self.node_ports[0])), signal.SIGKILL)
        deadline = killed_at + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            dropped = [
                c
                for c in probe.clients(sim)
                if c.id in before and c.reconnects and c.last_drop_at and c.last_drop_at >= killed_at
            ]
            if (
                dropped
                and all(c.resumed_at and c.resumed_at >= c.last_drop_at for c in dropped)
                and time.monotonic() - killed_at > 5
            ):
                break
        dropped = [c for c in probe.clients(sim) if c.last_drop_at and c.last_drop_at >= killed_at]
        recovered = max((c.resumed_at - killed_at for c in dropped if c.resumed_at), default=0.0)
        return {
            "sockets_dropped": len(dropped),
            "sockets_resumed": sum(1 for c in dropped if c.resumed_at),
            "seconds_to_all_resumed": round(recovered, 2),
            "killed_at": killed_at,
        }

    async def kill_redis_master(self, probe) -> dict:
        masters = self.topology.redis_master_ports(self.redis_ports)
        killed = masters[0]
        killed_at = time.monotonic()
        probe.mark("redis master killed")
        os.kill(_pid_of("redis-server", f"127.0.0.1:{killed}"), signal.SIGKILL)
        others = [port for port in self.redis_ports if port != killed]
        failover = None
        while time.monotonic() - killed_at < 40:
            now_masters = await asyncio.to_thread(self.topology.redis_master_ports, others)
            if len(now_masters) == 3 and killed not in now_masters:
                failover = time.monotonic() - killed_at
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(5)
        return {
            "killed_port": killed,
            "seconds_to_replica_takeover": None if failover is None else round(failover, 2),
            "ingest": probe.recovery("ingest", killed_at),
            "nearby": probe.recovery("nearby", killed_at),
            "live_state_on_cluster": "LIVE_REDIS_CLUSTER=true" in _cluster_env_hint(self.log),
        }

    async def kill_worker_and_drop_broker(self) -> dict:
        from rides.models import Ride, RideStatus

        completed_before = await asyncio.to_thread(lambda: Ride.objects.filter(status=RideStatus.COMPLETED).count())
        killed_at = time.monotonic()
        os.kill(_pid_of("celery", f"{os.environ['CELERY_QUEUE_PREFIX']}celery"), signal.SIGKILL)
        await asyncio.sleep(3)
        if self.args.restart_rabbitmq:
            broker = await asyncio.to_thread(_rabbitmq_restart)
        else:
            broker = await asyncio.to_thread(_rabbitmq_drop_connections, self.cluster.pid)
        return {
            "rides_completed_before": completed_before,
            "broker": broker,
            "seconds_worker_kill_to_broker_fault": round(time.monotonic() - killed_at, 1),
        }

    def settlement(self) -> dict:
        """Every completed ride settled exactly once (waits up to 90 s: the broker, not the sweeper, must deliver;
        the sweeper acts only after BILLING_SETTLE_GRACE_SECONDS), and reconcile_ledger clean."""
        from io import StringIO

        from django.core.management import call_command
        from django.db.models import Count, Q

        from rides.models import Ride, RideStatus

        deadline = time.monotonic() + 90
        while True:
            rides = Ride.objects.filter(status=RideStatus.COMPLETED).annotate(
                settlements=Count("ledger_transactions", filter=Q(ledger_transactions__purpose="settlement"))
            )
            counts = Counter(ride.settlements for ride in rides)
            if set(counts) <= {1} or time.monotonic() > deadline:
                break
            time.sleep(1)
        out = StringIO()
        try:
            call_command("reconcile_ledger", stdout=out)
            ledger = "clean"
        except Exception as exc:  # reconcile_ledger exits non-zero on a mismatch
            ledger = f"mismatch: {exc}"
        return {
            "rides_completed": sum(counts.values()),
            "settled_once": counts.get(1, 0),
            "unsettled": counts.get(0, 0),
            "settled_more_than_once": sum(n for k, n in counts.items() if k > 1),
            "reconcile_ledger": ledger,
            "reconcile_output": out.getvalue().strip().splitlines()[-3:],
        }


def verdict(figures: dict) -> str:
    node = figures["faults"].get("asgi_node", {})
    settlement = figures.get("settlement", {})
    bad_statuses = {
        status
        for status in figures.get("rest_statuses", {})
        if status.startswith("5") and status != "503" or status == "connection_error"
    }
    failover = figures["faults"].get("redis_master", {}).get("seconds_to_replica_takeover")
    ok = (
        figures.get("events", {}).get("lost", 1) == 0
        and node.get("sockets_dropped", 0) == node.get("sockets_resumed", -1)
        and settlement.get("unsettled", 1) == 0
        and settlement.get("settled_more_than_once", 1) == 0
        and settlement.get("reconcile_ledger") == "clean"
        and not bad_statuses
        and failover is not None
        and failover < 30
    )
    return "pass" if ok else "fail"


def render(figures: dict) -> str:
    return "drill " + figures["verdict"].upper() + "\n" + json.dumps(figures, indent=2)


def _pid_of(program: str, marker: str) -> int:
    import psutil

    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if program in cmdline and marker in cmdline and process.info["pid"] != os.getpid():
            return process.info["pid"]
    raise RuntimeError(f"no {program} process with {marker}")


def _cluster_env_hint(log: Path) -> str:
    text = log.read_text() if log.exists() else ""
    return "LIVE_REDIS_CLUSTER=true" if "live state on Redis Cluster" in text else ""


def _rabbitmq_drop_connections(cluster_pid: int) -> dict:
    """Close, in RabbitMQ, every connection opened by the deployment's processes (as a broker restart does to
    them), leaving other users of the broker alone."""
    import psutil

    ours = {child.pid for child in psutil.Process(cluster_pid).children(recursive=True)}
    local_ports = {
        conn.laddr.port for pid in ours for conn in _connections(pid) if conn.raddr and conn.raddr.port == 5672
    }
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "peer_port"], capture_output=True, text=True, timeout=60
    ).stdout
    closed = 0
    started = time.monotonic()
    for line in listed.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) in local_ports:
            subprocess.run(
                ["rabbitmqctl", "-q", "close_connection", parts[0], "drill: broker restart"],
                capture_output=True,
                timeout=60,
            )
            closed += 1
    return {
        "mode": "connections dropped",
        "connections_closed": closed,
        "seconds": round(time.monotonic() - started, 1),
    }


def _connections(pid: int):
    import psutil

    try:
        return psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return []


def _rabbitmq_restart() -> dict:
    started = time.monotonic()
    subprocess.run(["rabbitmqctl", "stop_app"], capture_output=True, timeout=120, check=True)
    subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120, check=True)
    return {"mode": "restarted", "seconds": round(time.monotonic() - started, 1)}


def _delete_queues(prefix: str) -> None:
    from kombu import Connection

    try:
        with Connection(os.environ["CELERY_BROKER_URL"], connect_timeout=3) as broker:
            channel = broker.default_channel
            for name in (f"{prefix}celery", f"{prefix}dispatch"):
                channel.queue_delete(name)
                channel.exchange_delete(name)
    except Exception:  # never declared: nothing to clean
        pass


if __name__ == "__main__":
    main()
