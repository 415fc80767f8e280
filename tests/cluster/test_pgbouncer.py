"""PostgreSQL through PgBouncer in transaction pooling mode (DB_PGBOUNCER=true): REST write paths from several
threads share one server connection, transaction by transaction, and still answer as without the pooler; and the
code holds nothing that breaks under it (session advisory locks, LISTEN, session SET, server-side cursors)."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from gateway.cluster.pgbouncer import PgBouncer, PgBouncerUnavailable

BASE_DIR = Path(__file__).resolve().parents[2]
PGBOUNCER_PORT = 9401
USERS = 4
APPS = ["accounts", "locations", "matching", "rides", "billing", "nebengjek", "gateway"]
# What keeps state in a server session beyond one transaction, which PgBouncer hands to another client next.
SESSION_STATE = re.compile(
    r"pg_advisory_lock|pg_try_advisory_lock\(|\bLISTEN\b|\bUNLISTEN\b|CREATE TEMP|"
    r"\.iterator\(|[\"']SET (?!LOCAL)(?!CONSTRAINTS)[A-Za-z_]+ "
)  # SQL as written here


@pytest.fixture
def pgbouncer():
    if connection.vendor != "postgresql":
        pytest.skip("PgBouncer pools PostgreSQL connections; this run is on SQLite")
    params = connection.get_connection_params()
    url = f"postgres://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}/x"
    bouncer = PgBouncer(url, PGBOUNCER_PORT, pool_size=1)  # one server connection for every client: worst case
    try:
        bouncer.start()
    except PgBouncerUnavailable as exc:
        pytest.skip(f"no PgBouncer: {exc}")
    yield bouncer
    bouncer.cleanup()


@pytest.fixture
def django_through(pgbouncer):
    """Every new Django connection (the test's and its threads') goes through the PgBouncer, as DB_PGBOUNCER sets."""
    database = connections.settings["default"]
    saved = {key: database.get(key) for key in ("PORT", "DISABLE_SERVER_SIDE_CURSORS", "OPTIONS")}
    connection.close()
    database.update(
        PORT=str(pgbouncer.listen_port),
        DISABLE_SERVER_SIDE_CURSORS=True,
        OPTIONS={**(database.get("OPTIONS") or {}), "prepare_threshold": None},
    )
    yield pgbouncer
    connections.close_all()
    database.update(saved)


def _transactions_through(bouncer: PgBouncer, database: str) -> int:
    admin = bouncer.url.rsplit("/", 1)[0] + "/pgbouncer"
    with psycopg.connect(admin, autocommit=True, prepare_threshold=None) as conn:
        cursor = conn.execute("SHOW STATS")
        columns = [column.name for column in cursor.description]
        return sum(int(row[columns.index("total_xact_count")]) for row in cursor if row[0] == database)


def _signed_in(msisdn: str, sms_outbox) -> APIClient:
    client = APIClient()
    assert client.post("/api/v1/auth/otp/request", {"msisdn": msisdn}, format="json").status_code == 202
    verify = client.post(
        "/api/v1/auth/otp/verify", {"msisdn": msisdn, "code": sms_outbox.last_code("+62" + msisdn[1:])}, format="json"
    )
    assert verify.status_code == 200, verify.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {verify.json()['access']}")
    return client


def _rider_writes(index: int, sms_outbox, barrier: threading.Barrier) -> list[int]:
    """Sign in, name oneself, top up, request a ride, become a driver: each a REST write; the statuses answered."""
    try:
        barrier.wait(10)
        client = _signed_in(f"08121000{index:04d}", sms_outbox)
        statuses = [
            client.patch("/api/v1/me", {"full_name": f"Rider {index}"}, format="json").status_code,
            client.post(
                "/api/v1/wallet/topups", {"amount": 50_000}, format="json", HTTP_IDEMPOTENCY_KEY=f"topup-{index}"
            ).status_code,
        ]
        request = client.post(
            "/api/v1/rides/requests",
            {"pickup": {"lat": -6.2, "lng": 106.8}, "destination": {"lat": -6.21, "lng": 106.8}},
            format="json",
        )
        statuses.append(request.status_code)
        statuses.append(
            client.post(
                "/api/v1/me/driver",
                {"vehicle_type": "motorcycle", "vehicle_plate": f"B {1000 + index} XYZ"},
                format="json",
            ).status_code
        )
        balance = client.get("/api/v1/wallet").json()["balance"]
        return [*statuses, balance]
    finally:
        connections.close_all()  # this thread's connection goes back through PgBouncer


def test_rest_writes_from_several_threads_share_one_server_connection_through_pgbouncer(django_through, sms_outbox):
    database = connection.settings_dict["NAME"]
    before = _transactions_through(django_through, database)
    barrier = threading.Barrier(USERS)

    with ThreadPoolExecutor(USERS) as pool:
        results = list(pool.map(lambda i: _rider_writes(i, sms_outbox, barrier), range(USERS)))

    assert results == [[200, 201, 201, 201, 50_000]] * USERS
    assert _transactions_through(django_through, database) - before >= USERS * 5


def test_the_code_keeps_no_session_state_that_transaction_pooling_would_break():
    offenders = []
    for app in APPS:
        for path in (BASE_DIR / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.lstrip().startswith("#") and SESSION_STATE.search(line.split("  # ")[0]):
                    offenders.append(f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}")

    assert offenders == []


def test_the_pgbouncer_setting_turns_off_server_side_cursors_and_prepared_statements():
    import subprocess
    import sys

    code = (
        "import nebengjek.settings as s; d = s.DATABASES['default']; "
        "print(d.get('DISABLE_SERVER_SIDE_CURSORS'), d.get('OPTIONS', {}).get('prepare_threshold', 'unset'))"
    )
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:6432/nebengjek",
        "DB_PGBOUNCER": "true",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": str(BASE_DIR / "var"),
    }
    printed = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    ).stdout.split()

    assert printed == ["True", "None"]
