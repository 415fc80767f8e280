"""`make run`: the whole system in the foreground — embedded Redis (when no REDIS_URL), migrations,
the ASGI server, a Celery worker and Celery beat — all stopped together by Ctrl-C or SIGTERM.

runstack supervises its children: one that exits (killed, crashed) is restarted after a backoff
(RUNSTACK_RESTART_BACKOFF_SECONDS, doubling up to RUNSTACK_RESTART_BACKOFF_MAX_SECONDS), with a WARNING naming its
exit code; the others keep running. Each child runs in its own process group, so that what a dead child leaves
behind (a Celery pool, uvicorn's workers holding the port) is cleared before the restart."""

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from nebengjek import embedded_redis

logger = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15
PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_SECONDS = 0.5


@dataclass
class Child:
    """One supervised process: what to run, the running process, and when to restart it."""

    name: str
    command: list[str]
    env: dict | None = None
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, env=self.env, start_new_session=True, preexec_fn=_terminate_with_parent
        )
        self.started_at, self.restart_at = time.monotonic(), None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()


def _terminate_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when runstack dies, even by SIGKILL; its own process group no longer
    shares runstack's fate otherwise."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class Supervisor:
    """Restarts children that exit, with backoff, until stop()."""

    def __init__(self, children: list[Child], *, backoff: float, backoff_max: float):
        self.children = children
        self.backoff_initial, self.backoff_max = backoff, backoff_max

    def start_all(self) -> None:
        for child in self.children:
            child.start()

    def check(self, now: float) -> None:
        """Notice children that exited (schedule their restart) and restart those whose delay is over."""
        for child in self.children:
            if child.restart_at is None:
                code = child.exit_code()
                if code is not None:
                    self._schedule_restart(child, code, now)
            elif now >= child.restart_at:
                logger.info("restarting %s", child.name, extra={"child": child.name})
                child.start()

    def _schedule_restart(self, child: Child, code: int, now: float) -> None:
        _signal_group(child.process.pid, signal.SIGKILL)  # type: ignore[union-attr]  # left: pool processes, workers
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # its live gauges (open sockets) no longer count
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(child.process.pid)  # type: ignore[union-attr]  # it ran
        healthy = now - child.started_at > self.backoff_max
        child.backoff = (
            self.backoff_initial if healthy or not child.backoff else min(child.backoff * 2, self.backoff_max)
        )
        child.restart_at = now + child.backoff
        logger.warning(
            "%s exited with code %s; restarting in %.1f s",
            child.name,
            code,
            child.backoff,
            extra={"child": child.name, "exit_code": code, "restart_in_seconds": child.backoff},
        )

    def stop(self) -> None:
        """SIGTERM to each child (its own clean shutdown), SIGKILL to its group after the timeout or once it is gone."""
        running = [child for child in self.children if child.exit_code() is None and child.process is not None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]  # running: started
        for child in running:
            try:
                child.process.wait(timeout=STOP_TIMEOUT_SECONDS)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                pass
        for child in self.children:
            if child.process is not None:
                _signal_group(child.process.pid, signal.SIGKILL)
                child.process.wait()


def _embedded_redis_port(http_port: int) -> int:
    """EMBEDDED_REDIS_PORT when set, else the HTTP port + settings.EMBEDDED_REDIS_PORT_OFFSET; the children (and the
    commands `make demo` runs beside them) find it through the environment."""
    port = int(os.environ.get("EMBEDDED_REDIS_PORT") or http_port + settings.EMBEDDED_REDIS_PORT_OFFSET)
    os.environ.update(PORT=str(http_port), EMBEDDED_REDIS_PORT=str(port), REDIS_URL=f"redis://127.0.0.1:{port}/0")
    return port


def _exit_on_sigterm(signum, frame):
    raise SystemExit(0)


def _ensure_port_free(host: str, port: int) -> None:
    """Refuse to start (exit non-zero, naming who holds it) when the HTTP port is taken: the server would fail after
    the banner."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no holder
        try:
            probe.bind((host, port))
            return
        except OSError:
            pass
    raise CommandError(
        f"port {port} on {host} is in use by {_port_holder(port)}; stop it or choose another port "
        f"(make run PORT={port + 1})"
    )


def _port_holder(port: int) -> str:
    import psutil

    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and connection.laddr.port == port and connection.status == psutil.CONN_LISTEN:
                if connection.pid:
                    process = psutil.Process(connection.pid)
                    return f"process {connection.pid} ({' '.join(process.cmdline())[:120]})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def uvicorn_command(*, host: str, port: int, workers: int, python: str = sys.executable) -> list[str]:
    """The production server's command line: uvicorn with the sans-I/O websockets, uvloop and httptools, frames
    capped at 4 KiB, no access log. runstack, runcluster and the reliability harness start it the same way."""
    return [
        python,
        "-m",
        "uvicorn",
        "nebengjek.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--ws",
        "websockets-sansio",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws-max-size",
        "4096",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


class Command(BaseCommand):
    help = "Run the ASGI server, a Celery worker and beat (and an embedded Redis when REDIS_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
        parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
        parser.add_argument("--no-celery", action="store_true", help="only the ASGI server")

    def handle(self, *args, **options):
        supervisor = None
        self.redis_process = None
        # Until the supervisor loop takes SIGTERM over, it still stops what was started (the embedded Redis runs in a
        # session of its own and would outlive a runstack killed while migrating).
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        _ensure_port_free(options["host"], options["port"])
        try:
            if settings.EMBEDDED_REDIS:
                self._embedded_redis_start(options["port"])
            call_command("migrate", interactive=False, verbosity=0)
            self._share_metrics()
            supervisor = Supervisor(
                self.children(options),
                backoff=settings.RUNSTACK_RESTART_BACKOFF_SECONDS,
                backoff_max=settings.RUNSTACK_RESTART_BACKOFF_MAX_SECONDS,
            )
            supervisor.start_all()
            self.stdout.write(f"NebengJek on http://{options['host']}:{options['port']}/ (Ctrl-C stops everything)")
            self._supervise(supervisor)
        finally:
            if supervisor is not None:
                supervisor.stop()
            embedded_redis.stop(self.redis_process)

    def _embedded_redis_start(self, http_port: int) -> None:
        """Start it with SIGTERM held back, so that a SIGTERM meanwhile stops it too (`self.redis_process` is set)."""
        redis_port = _embedded_redis_port(http_port)
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self.redis_process = embedded_redis.start(redis_port, settings.VAR_DIR / "redis")
        except embedded_redis.PortTaken as exc:
            raise CommandError(str(exc)) from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        self.stdout.write(f"embedded redis-server on 127.0.0.1:{redis_port}")

    def children(self, options) -> list[Child]:
        children = [Child("web server", self._server_command(options), env=self.server_env())]
        if not options["no_celery"]:
            default, matching = self.worker_commands()
            children += [
                Child("celery worker (default queue)", default),
                Child("celery worker (matching queue)", matching),
                Child(
                    "celery beat",
                    self._celery("beat", "-l", "INFO", "-s", str(settings.VAR_DIR / "celerybeat-schedule")),
                ),
            ]
        return children

    def _share_metrics(self):
        """One Prometheus directory for every child (web workers, Celery): /metrics then shows a task's counters."""
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            directory = settings.VAR_DIR / "prometheus"
            shutil.rmtree(directory, ignore_errors=True)  # the values of a previous run's processes
            directory.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)

    def _server_command(self, options):
        bind = [options["host"], str(options["port"])]
        if options["server"] == "daphne":
            return [sys.executable, "-m", "daphne", "-b", bind[0], "-p", bind[1], "nebengjek.asgi:application"]
        return uvicorn_command(host=bind[0], port=int(bind[1]), workers=options["workers"])

    def worker_commands(self, concurrency=None):
        """Two workers: the default queue (settlements, sweepers; prefork) and matching's own queue, so that batch
        expiry and the matching sweeper never wait behind a backlog of settlements. Matching's tasks wait on the
        database and Redis, not the CPU: one process with a few threads serves them with no fork per slot."""
        return [
            self._celery(
                "worker",
                "-l",
                "INFO",
                "-c",
                str(concurrency or settings.CELERY_CONCURRENCY),
                "-Q",
                settings.CELERY_TASK_DEFAULT_QUEUE,
                "-n",
                "default@%h",
            ),
            self._celery(
                "worker",
                "-l",
                "INFO",
                "-P",
                "threads",
                "-c",
                str(settings.MATCHING_WORKER_CONCURRENCY),
                "-Q",
                settings.MATCHING_QUEUE,
                "-n",
                "matching@%h",
            ),
        ]

    def _celery(self, *args):
        return [sys.executable, "-m", "celery", "-A", "nebengjek", *args]

    @staticmethod
    def server_env(base=None):
        """The ASGI server's environment: a database pool per process (settings DB_POOL_MAX_SIZE) unless set."""
        return {"DB_POOL_MAX_SIZE": str(settings.WEB_DB_POOL_SIZE), **(os.environ if base is None else base)}

    def _supervise(self, supervisor: Supervisor) -> None:
        """Until SIGTERM or Ctrl-C: restart what exits."""
        stop = {"now": False}

        def request_stop(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop["now"]:
                supervisor.check(time.monotonic())
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            pass
