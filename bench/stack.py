"""The system under test, started the way production runs it, and the measuring of its processes.

- Redis: REDIS_URL when set (its database is FLUSHED before each scenario), else a private embedded redis-server
  on BENCH_REDIS_PORT (default 6395; never the `make run` one).
- Database: DATABASE_URL when set (bench users are added to it), else a fresh SQLite file under var/bench/.
- ASGI server: the exact command line of `manage.py runstack` (nebengjek/management/commands/runstack.py).
- Celery workers: the same commands as runstack, for the scenarios that need it.
Every child runs with DEBUG off and logs to bench/out/<name>.log.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BARE = "bare"  # a server name for scenario 1's reference handler
BARE_APP = "bench.bare:application"
EXTERNAL_REDIS = "REDIS_URL" in os.environ  # read before the harness sets REDIS_URL for its children


def base_env():
    """Environment for the harness itself and every child; call before django.setup()."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
    env["DEBUG"] = "false"
    env.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789abcdef")
    env.setdefault("CHANNEL_PREFIX", "njbench")
    env["VAR_DIR"] = str(ROOT / "var" / "bench")
    if not EXTERNAL_REDIS:
        env["REDIS_URL"] = f"redis://127.0.0.1:{bench_redis_port()}/0"
    return env


def bench_redis_port():
    return int(os.environ.get("BENCH_REDIS_PORT", "6395"))


def using_sqlite():
    return "DATABASE_URL" not in os.environ


def fresh_var_dir():
    var = ROOT / "var" / "bench"
    if using_sqlite() and var.exists():
        shutil.rmtree(var)
    var.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)


def raise_fd_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def wait_port(port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _local_redis_server_pid():
    """The pid INFO reports, when that pid is a redis-server process here."""
    from nebengjek.redis import get_redis

    pid = get_redis().info("server").get("process_id")
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return pid if comm.read().startswith("redis-server") else None
    except OSError:
        return None


def port_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


class Stack:
    """Owns the child processes it starts; `stop()` ends exactly those, by pid."""

    def __init__(self, env):
        self.env = env
        self.redis_process = None
        self._external_redis_pid = None
        self.server = None
        self.worker = None
        self.extra_workers = []
        self.logs = []

    # Redis ---------------------------------------------------------------------------------------------
    def start_redis(self):
        if EXTERNAL_REDIS:
            return
        from nebengjek import embedded_redis

        self.redis_process = embedded_redis.start(bench_redis_port(), ROOT / "var" / "bench" / "redis")

    def redis_pid(self):
        """The Redis server's pid, so its CPU is metered: the embedded one's, or a REDIS_URL server's when it runs
        on this machine (None for a remote one, or one in another pid namespace such as a container)."""
        if self.redis_process is not None:
            return self.redis_process.pid
        if self._external_redis_pid is None:
            self._external_redis_pid = _local_redis_server_pid() or 0
        return self._external_redis_pid or None

    @staticmethod
    def redis_version():
        from nebengjek.redis import get_redis

        return get_redis().info("server").get("redis_version", "?")

    # ASGI server -----------------------------------------------------------------------------------------
    def server_command(self, *, server, port, workers):
        from gateway.management.commands.runstack import Command

        if server == BARE:  # the reference handler (bench/bare.py) under uvicorn's command line
            command = self.server_command(server="uvicorn", port=port, workers=workers)
            return [BARE_APP if part == "nebengjek.asgi:application" else part for part in command]
        return Command()._server_command({"host": "127.0.0.1", "port": port, "workers": workers, "server": server})

    def start_server(self, *, server, port, workers):
        if not port_free(port):
            raise RuntimeError(f"port {port} is in use")
        command = self.server_command(server=server, port=port, workers=workers)
        from gateway.management.commands.runstack import Command

        self.server = self._spawn(f"server-{server}", command, env=Command.server_env(self.env))
        if not wait_port(port, 60):
            raise RuntimeError(f"{server} did not listen on {port}; see {OUT}/server-{server}.log")
        self._wait_workers(server, workers)
        return command

    def _wait_workers(self, server, workers):
        """uvicorn --workers N: the supervisor forks N children; wait until all are up and idle."""
        if server not in ("uvicorn", BARE) or workers <= 1:
            time.sleep(0.5)
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(self.server_processes()) < workers + 1:
            time.sleep(0.1)
        time.sleep(1.0)

    def stop_server(self):
        self._end(self.server)
        self.server = None

    # Celery ----------------------------------------------------------------------------------------------
    def start_worker(self, concurrency=None):
        from gateway.management.commands.runstack import Command

        commands = Command().worker_commands(concurrency)  # runstack's workers: default queue, matching's queue
        self.worker = self._spawn("celery-worker", commands[0])
        self.extra_workers = [self._spawn(f"celery-worker-{i}", command) for i, command in enumerate(commands[1:], 1)]
        time.sleep(3.0)
        return commands

    def stop_worker(self):
        for process in [self.worker, *self.extra_workers]:
            self._end(process)
        self.worker, self.extra_workers = None, []

    # processes -------------------------------------------------------------------------------------------
    def _spawn(self, name, command, env=None):
        log = open(OUT / f"{name}.log", "ab")
        self.logs.append(log)
        return subprocess.Popen(
            command, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _end(self, process):
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()

    def server_processes(self):
        return tree(self.server.pid) if self.server else []

    def worker_processes(self):
        return [process for worker in [self.worker, *self.extra_workers] if worker for process in tree(worker.pid)]

    def stop(self):
        self.stop_worker()
        self.stop_server()
        if self.redis_process is not None:
            from nebengjek import embedded_redis

            embedded_redis.stop(self.redis_process)
        for log in self.logs:
            log.close()


def tree(pid):
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(processes):
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_bytes(processes):
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class CpuMeter:
    """CPU seconds used by a set of processes between start() and stop()."""

    def __init__(self, processes_fn):
        self.processes_fn = processes_fn

    def start(self):
        self.processes = self.processes_fn()
        self.before = {p.pid: _cpu(p) for p in self.processes}
        self.t0 = time.perf_counter()
        return self

    def stop(self):
        used = sum(max(0.0, _cpu(p) - self.before.get(p.pid, 0.0)) for p in self.processes)
        self.elapsed = time.perf_counter() - self.t0
        self.seconds = used
        return used

    @property
    def cores(self):
        return self.seconds / self.elapsed if self.elapsed else 0.0


class MachineMeter:
    """Busy cores of the whole machine (to tell how much CPU other programs took during a window), and the cores the
    hypervisor gave to other guests instead (steal: this VM's programs wanted the CPU and did not get it)."""

    def start(self):
        self.before = psutil.cpu_times()
        self.t0 = time.perf_counter()
        return self

    def stop(self):
        after = psutil.cpu_times()
        elapsed = time.perf_counter() - self.t0
        busy = lambda t: sum(t) - t.idle - getattr(t, "iowait", 0) - _steal(t)  # noqa: E731
        self.busy_cores = (busy(after) - busy(self.before)) / elapsed if elapsed else 0.0
        self.steal_cores = (_steal(after) - _steal(self.before)) / elapsed if elapsed else 0.0
        return self.busy_cores


def _steal(times):
    return getattr(times, "steal", 0.0)


def cpu_calibration_ms(repeats=5):
    """The best of `repeats` timings of a fixed pure-Python loop (100,000 haversine-like steps, no project code): how
    fast this machine's core is right now: a snapshot (it can change by the minute) that explains a slow run
    (docs/benchmarks.md)."""
    from math import asin, cos, radians, sin, sqrt

    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        total = 0.0
        for i in range(100_000):
            a = sin(radians(i % 90) / 2) ** 2 + cos(0.1) * cos(0.2) * sin(radians(i % 45) / 2) ** 2
            total += asin(min(1.0, sqrt(a)))
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 1)


def _cpu(process):
    try:
        times = process.cpu_times()
        return times.user + times.system
    except psutil.NoSuchProcess:
        return 0.0


def python():
    return sys.executable
