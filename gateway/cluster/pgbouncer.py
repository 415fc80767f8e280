"""A PgBouncer in transaction pooling mode in front of the PostgreSQL of a DATABASE_URL (Debian's pgbouncer)."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PGBOUNCER_INI = """[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
admin_users = {user}
stats_users = {user}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = {max_client_conn}
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {dir}/pgbouncer.log
"""


class PgBouncerUnavailable(RuntimeError):
    pass


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None)


def through_pgbouncer(database_url: str, port: int) -> str:
    """`database_url` with its host and port replaced by the PgBouncer's."""
    parts = urlsplit(database_url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{port}"))


class PgBouncer:
    """Started on `listen_port` with trust authentication on loopback (the PostgreSQL behind it decides); PgBouncer
    refuses to run as root, so as root it runs as the `postgres` user."""

    def __init__(self, database_url: str, listen_port: int, *, pool_size: int = 20, max_client_conn: int = 500):
        parts = urlsplit(database_url)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 5432
        self.user = parts.username or "postgres"
        self.listen_port, self.pool_size, self.max_client_conn = listen_port, pool_size, max_client_conn
        self.url = through_pgbouncer(database_url, listen_port)
        self.dir = Path(tempfile.mkdtemp(prefix=f"nj-pgbouncer-{listen_port}-"))
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """Write the configuration; the command that runs PgBouncer on it in the foreground."""
        binary = pgbouncer_binary()
        if binary is None:
            raise PgBouncerUnavailable("pgbouncer is not installed (scripts/install-cluster-deps.sh installs it)")
        self.dir.chmod(0o777)
        (self.dir / "userlist.txt").write_text(f'"{self.user}" ""\n')
        ini = self.dir / "pgbouncer.ini"
        ini.write_text(
            PGBOUNCER_INI.format(
                host=self.upstream_host,
                port=self.upstream_port,
                listen_port=self.listen_port,
                dir=self.dir,
                user=self.user,
                pool_size=self.pool_size,
                max_client_conn=self.max_client_conn,
            )
        )
        command = [binary, str(ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", _unprivileged_user()]
        return command

    def start(self, timeout: float = 10.0) -> "PgBouncer":
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode()  # type: ignore[union-attr]  # stderr=PIPE
                raise PgBouncerUnavailable(f"pgbouncer exited: {stderr[-500:]}{self.log()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.listen_port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise PgBouncerUnavailable(f"pgbouncer did not listen on {self.listen_port} within {timeout} s")

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PgBouncerUnavailable("no unprivileged user to run pgbouncer as (it refuses root)")
