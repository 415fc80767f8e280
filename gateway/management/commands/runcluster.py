"""`make cluster`: the multi-node topology on loopback, in the foreground — a Redis Cluster (3 masters, 3 replicas),
CLUSTER_NODES ASGI nodes behind HAProxy, Celery workers and exactly one beat on RabbitMQ, PostgreSQL from
DATABASE_URL (optionally through PgBouncer) — all stopped together by Ctrl-C or SIGTERM.

Like runstack it supervises: whatever exits (a node, a worker, a redis-server, the balancer) is restarted and the
rest keeps running; a restarted redis-server rejoins the cluster as a replica of whichever took over its slots.
/health/ready on the balancer is answered by this process: 200 when every piece is up and every master has a
replica in sync, else 503 naming what is not.
"""

import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import urlsplit

import httpx
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from gateway.cluster import topology
from gateway.cluster.pgbouncer import PgBouncer, PgBouncerUnavailable, pgbouncer_binary
from gateway.management.commands.runstack import POLL_SECONDS, Child, Supervisor, uvicorn_command
from gateway.management.commands.runstack import Command as Runstack
from nebengjek import embedded_redis

logger = logging.getLogger(__name__)

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
READINESS_CACHE_SECONDS = 1.0
BEAT = "celery beat"


def _exit_on_sigterm(signum, frame):
    raise SystemExit(0)


class Command(BaseCommand):
    help = (
        "Run the multi-node topology: HAProxy on PORT in front of CLUSTER_NODES ASGI nodes (PORT+i), a 6-process "
        "Redis Cluster on CLUSTER_REDIS_PORT..+5, Celery workers and one beat on RabbitMQ, optional PgBouncer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--nodes", type=int, default=settings.CLUSTER_NODES)
        parser.add_argument("--redis-port", type=int, default=settings.CLUSTER_REDIS_PORT)
        parser.add_argument("--pgbouncer", action="store_true", default=settings.CLUSTER_PGBOUNCER)
        parser.add_argument("--workers-per-node", type=int, default=1, help="uvicorn processes per node")

    def handle(self, *args, **options):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness checks' requests
        self.port, self.nodes = options["port"], options["nodes"]
        self.node_ports = [self.port + i for i in range(1, self.nodes + 1)]
        self.readiness_port = self.port + self.nodes + 1
        self.pgbouncer_port = self.port + self.nodes + 2
        self.redis_ports = [options["redis_port"] + i for i in range(topology.REDIS_CLUSTER_SIZE)]
        self.broker_url = os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
        self.database_url = os.environ.get("DATABASE_URL", "")
        self._preflight(options)
        self.workdir = settings.VAR_DIR / "cluster"
        shutil.rmtree(self.workdir, ignore_errors=True)  # clean Redis state each run: no nodes.conf survives
        self.workdir.mkdir(parents=True)
        self.small_redis_process = None
        self.redis_supervisor = self.supervisor = self.readiness_server = None
        self._readiness_cache: tuple[float, int, dict] | None = None
        try:
            self._start_redis_cluster()
            self.small_redis_url = self._small_redis()
            self.stdout.write(f"migrating {urlsplit(self.database_url).path.lstrip('/')} ...")
            call_command("migrate", interactive=False, verbosity=0)
            self.supervisor = Supervisor(
                self.children(options),
                backoff=settings.RUNSTACK_RESTART_BACKOFF_SECONDS,
                backoff_max=settings.RUNSTACK_RESTART_BACKOFF_MAX_SECONDS,
            )
            self.supervisor.start_all()
            self._serve_readiness()
            self._banner(options)
            self._supervise()
        finally:
            self._stop_all()

    # --- before anything starts -------------------------------------------------------------------------------
    def _preflight(self, options) -> None:
        if not self.database_url.startswith(("postgres://", "postgresql://")):
            raise CommandError(
                "make cluster needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/dbname "
                "(an empty database is migrated)"
            )
        server, cli = topology.redis_binaries()
        missing = [
            name
            for name, found in (("haproxy", topology.haproxy_binary()), ("redis-server", server), ("redis-cli", cli))
            if not found
        ]
        if options["pgbouncer"] and not pgbouncer_binary():
            missing.append("pgbouncer")
        if missing:
            raise CommandError(f"missing {', '.join(missing)}: run scripts/install-cluster-deps.sh (Debian packages)")
        ports = [
            self.port,
            *self.node_ports,
            self.readiness_port,
            *self.redis_ports,
            *[port + 10000 for port in self.redis_ports],
        ] + ([self.pgbouncer_port] if options["pgbouncer"] else [])
        taken = [port for port in ports if topology.port_in_use(port)]
        if taken:
            raise CommandError(
                f"ports in use: {', '.join(map(str, taken))}; stop what holds them or choose PORT / CLUSTER_REDIS_PORT"
            )
        broker = urlsplit(self.broker_url)
        if broker.scheme.startswith("amqp") and not topology.wait_for_port(
            broker.port or 5672, 2, host=broker.hostname or "127.0.0.1"
        ):
            raise CommandError(
                f"RabbitMQ is not reachable at {broker.hostname}:{broker.port or 5672} "
                "(make cluster neither starts nor stops it)"
            )

    # --- Redis ---------------------------------------------------------------------------------------------------
    def _start_redis_cluster(self) -> None:
        server, cli = cast(tuple[str, str], topology.redis_binaries())  # _preflight found both
        children = [
            Child(f"redis {port}", topology.redis_cluster_node_command(server, port, self.workdir / f"redis-{port}"))
            for port in self.redis_ports
        ]
        # A dead master must not come back before its replica took over: it keeps nothing on disk, so it would
        # return as an empty master of its slots and its replica would copy the emptiness.
        delay = topology.REDIS_RESTART_DELAY_SECONDS
        self.redis_supervisor = Supervisor(children, backoff=delay, backoff_max=delay)
        self.redis_supervisor.start_all()
        if not all(topology.wait_for_port(port, 10) for port in self.redis_ports):
            raise CommandError(f"the Redis Cluster's servers did not start (logs: {self.workdir}/redis-*/)")
        topology.redis_cluster_create(cli, self.redis_ports)
        self.stdout.write(
            f"Redis Cluster on 127.0.0.1:{self.redis_ports[0]}..{self.redis_ports[-1]} "
            f"(masters {', '.join(map(str, topology.redis_master_ports(self.redis_ports)))})"
        )

    def _small_redis(self) -> str:
        """The rate counters' and the cache's Redis (single-key roles): REDIS_URL, else a private embedded one."""
        if "REDIS_URL" in os.environ:
            return os.environ["REDIS_URL"]
        port = int(os.environ.get("EMBEDDED_REDIS_PORT") or self.port + settings.EMBEDDED_REDIS_PORT_OFFSET)
        try:
            self.small_redis_process = embedded_redis.start(port, self.workdir / "redis-small")
        except embedded_redis.PortTaken as exc:
            raise CommandError(str(exc)) from None
        return f"redis://127.0.0.1:{port}/0"

    # --- the children --------------------------------------------------------------------------------------------
    def shared_env(self) -> dict[str, str]:
        masters = topology.redis_master_ports(self.redis_ports)[:3] or self.redis_ports[:3]
        env = {
            **os.environ,
            "REDIS_URL": self.small_redis_url,
            "RATE_REDIS_URL": self.small_redis_url,
            "CACHE_REDIS_URL": self.small_redis_url,
            "LIVE_REDIS_CLUSTER": "true",
            "LIVE_REDIS_URL": f"redis://127.0.0.1:{self.redis_ports[0]}/0",
            "CHANNEL_REDIS_URLS": ",".join(f"redis://127.0.0.1:{port}/0" for port in masters),
            "CELERY_BROKER_URL": self.broker_url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
            "PYTHONUNBUFFERED": "1",
        }
        if self.pgbouncer is not None:
            env.update(DATABASE_URL=self.pgbouncer.url, DB_PGBOUNCER="true")
        return env

    def children(self, options) -> list[Child]:
        (self.workdir / "prometheus").mkdir(exist_ok=True)
        self.pgbouncer = None
        children = []
        if options["pgbouncer"]:
            self.pgbouncer = PgBouncer(
                self.database_url, self.pgbouncer_port, pool_size=settings.CLUSTER_PGBOUNCER_POOL_SIZE
            )
            try:
                children.append(Child("pgbouncer", self.pgbouncer.command()))
            except PgBouncerUnavailable as exc:
                raise CommandError(str(exc)) from None
        env = self.shared_env()
        node_env = {
            **Runstack.server_env(env),
            "NUM_PROXIES": "0",
            "FORWARDED_ALLOW_IPS": topology.BALANCER_SOURCE_ADDRESS,
        }
        for i, node_port in enumerate(self.node_ports, 1):
            children.append(
                Child(
                    f"node {i}",
                    self._node_command(node_port, options["workers_per_node"]),
                    env={**node_env, "PORT": str(node_port), "NODE_NAME": f"node{i}"},
                )
            )
        config = topology.write_haproxy_config(
            self.workdir / "haproxy", port=self.port, node_ports=self.node_ports, readiness_port=self.readiness_port
        )
        haproxy = cast(str, topology.haproxy_binary())  # _preflight found it
        children.append(Child("balancer", [haproxy, "-f", str(config), "-db"]))
        runstack = Runstack()
        default, matching = runstack.worker_commands()
        children += [
            Child("celery worker (default queue)", default, env=env),
            Child("celery worker (matching queue)", matching, env=env),
            # Exactly one beat in the deployment: Celery's beat has no leader election, two would send
            # every periodic task twice (sweepers, ingest, broadcasts).
            Child(
                BEAT,
                runstack._celery("beat", "-l", "WARNING", "-s", str(self.workdir / "celerybeat-schedule")),
                env=env,
            ),
        ]
        return children

    def _node_command(self, port: int, workers: int) -> list[str]:
        return [
            *uvicorn_command(host="127.0.0.1", port=port, workers=workers),
            "--proxy-headers",
            "--forwarded-allow-ips",
            topology.BALANCER_SOURCE_ADDRESS,
        ]

    def _banner(self, options) -> None:
        nodes = ", ".join(f"node {i} :{port}" for i, port in enumerate(self.node_ports, 1))
        self.stdout.write(
            f"live state on Redis Cluster {self.redis_ports[0]}; channel layer on the cluster's masters; "
            f"rate counters and cache on {self.small_redis_url}; broker {self.broker_url.split('@')[-1]}"
            f"{'; PgBouncer :' + str(self.pgbouncer_port) if self.pgbouncer else ''}"
        )
        self.stdout.write(
            f"NebengJek cluster on http://127.0.0.1:{self.port}/ ({nodes}; readiness "
            f"http://127.0.0.1:{self.port}/health/ready) (Ctrl-C stops everything)"
        )
        self.stdout.flush()

    # --- running -------------------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        stop = {"now": False}

        def request_stop(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop["now"]:
                now = time.monotonic()
                self.redis_supervisor.check(now)  # type: ignore[union-attr]  # started by handle()
                self.supervisor.check(now)  # type: ignore[union-attr]
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            pass

    def _stop_all(self) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the stop runs to its end
        if self.readiness_server is not None:
            self.readiness_server.shutdown()
        for supervisor in (self.supervisor, self.redis_supervisor):
            if supervisor is not None:
                supervisor.stop()
        embedded_redis.stop(self.small_redis_process)
        if getattr(self, "pgbouncer", None) is not None:
            shutil.rmtree(self.pgbouncer.dir, ignore_errors=True)  # type: ignore[union-attr]

    # --- readiness -----------------------------------------------------------------------------------------------
    def _serve_readiness(self) -> None:
        command = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, body = command.readiness()
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args):
                pass

        self.readiness_server = ThreadingHTTPServer(("127.0.0.1", self.readiness_port), Handler)
        threading.Thread(target=self.readiness_server.serve_forever, daemon=True).start()

    def readiness(self) -> tuple[int, dict]:
        cached = self._readiness_cache
        if cached is not None and time.monotonic() - cached[0] < READINESS_CACHE_SECONDS:
            return cached[1], cached[2]
        checks, problems = self._checks()
        if not problems:
            answer = 200, {"status": "ok", "checks": checks}
        else:
            answer = (
                503,
                {
                    "error": {
                        "code": "service_unavailable",
                        "message": f"Not ready: {'; '.join(problems)}.",
                        "details": {"checks": checks, "problems": problems},
                    }
                },
            )
        self._readiness_cache = (time.monotonic(), *answer)
        return answer

    def _checks(self) -> tuple[dict[str, str], list[str]]:
        checks: dict[str, str] = {}
        problems: list[str] = []

        def record(name: str, failures: list[str]) -> None:
            checks[name] = "ok" if not failures else "unavailable"
            problems.extend(failures)

        for i, port in enumerate(self.node_ports, 1):
            record(f"node{i}", [] if _answers_200(f"http://127.0.0.1:{port}/health/ready") else [f"node {i} down"])
        record("redis_cluster", topology.redis_cluster_health(self.redis_ports).problems)
        record("redis", [] if _redis_answers(self.small_redis_url) else ["redis (rate, cache) down"])
        broker = urlsplit(self.broker_url)
        record(
            "rabbitmq",
            [] if _port_answers(broker.hostname or "127.0.0.1", broker.port or 5672) else ["rabbitmq unreachable"],
        )
        record("database", [] if _database_answers(self.database_url) else ["database unreachable"])
        for child in self.supervisor.children:  # type: ignore[union-attr]  # started by handle()
            if child.name.startswith("node"):
                continue
            name = child.name.split(" (")[0].replace(" ", "_") + ("_matching" if "matching" in child.name else "")
            record(name, [] if child.restart_at is None and child.exit_code() is None else [f"{child.name} down"])
        return checks, problems


def _answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _database_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False
