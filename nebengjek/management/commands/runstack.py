"""`make run`: the whole system in the foreground — embedded Redis (when no REDIS_URL), migrations,
the ASGI server, a Celery worker and Celery beat — all stopped together by Ctrl-C."""
import os
import shutil
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from nebengjek import embedded_redis


class Command(BaseCommand):
    help = "Run the ASGI server, a Celery worker and beat (and an embedded Redis when REDIS_URL is unset)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
        parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
        parser.add_argument("--no-celery", action="store_true", help="only the ASGI server")

    def handle(self, *args, **options):
        processes = []
        redis_process = None
        if settings.EMBEDDED_REDIS:
            redis_process = embedded_redis.start(settings.EMBEDDED_REDIS_PORT, settings.VAR_DIR / "redis")
            self.stdout.write(f"embedded redis-server on 127.0.0.1:{settings.EMBEDDED_REDIS_PORT}")
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self._share_metrics()
            processes.append(self._spawn(self._server_command(options), env=self.server_env()))
            if not options["no_celery"]:
                processes += [self._spawn(command) for command in self.worker_commands()]
                processes.append(self._spawn(self._celery("beat", "-l", "INFO", "-s",
                                                          str(settings.VAR_DIR / "celerybeat-schedule"))))
            self.stdout.write(f"NebengJek on http://{options['host']}:{options['port']}/ (Ctrl-C stops everything)")
            self._wait(processes)
        finally:
            self._stop(processes)
            embedded_redis.stop(redis_process)

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
        return [
            sys.executable, "-m", "uvicorn", "nebengjek.asgi:application", "--host", bind[0], "--port", bind[1],
            "--ws", "websockets-sansio", "--loop", "uvloop", "--http", "httptools", "--ws-max-size", "4096",
            "--workers", str(options["workers"]), "--no-access-log", "--log-level", "warning",
        ]

    def worker_commands(self, concurrency=None):
        """Two workers: the default queue (settlements, sweepers; prefork) and matching's own queue, so that batch
        expiry and the matching sweeper never wait behind a backlog of settlements. Matching's tasks wait on the
        database and Redis, not the CPU: one process with a few threads serves them with no fork per slot."""
        return [
            self._celery("worker", "-l", "INFO", "-c", str(concurrency or settings.CELERY_CONCURRENCY),
                         "-Q", "celery", "-n", "default@%h"),
            self._celery("worker", "-l", "INFO", "-P", "threads", "-c", str(settings.MATCHING_WORKER_CONCURRENCY),
                         "-Q", settings.MATCHING_QUEUE, "-n", "matching@%h"),
        ]

    def _celery(self, *args):
        return [sys.executable, "-m", "celery", "-A", "nebengjek", *args]

    def _spawn(self, command, env=None):
        return subprocess.Popen(command, env=env)

    @staticmethod
    def server_env(base=None):
        """The ASGI server's environment: a database pool per process (settings DB_POOL_MAX_SIZE) unless set."""
        return {"DB_POOL_MAX_SIZE": str(settings.WEB_DB_POOL_SIZE), **(os.environ if base is None else base)}

    def _wait(self, processes):
        stop = {"now": False}

        def request_stop(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop["now"] and all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    def _stop(self, processes):
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
