"""Suite-wide fixtures: the embedded Redis when none is configured, clean stores per test, signed-in clients."""

import pytest
from django.conf import settings

from nebengjek import embedded_redis

_embedded = {}


def pytest_configure(config):
    if settings.EMBEDDED_REDIS:
        _embedded["process"] = embedded_redis.start(settings.EMBEDDED_REDIS_PORT, settings.VAR_DIR / "redis-test")
    from gateway.tests import socket_contract

    socket_contract.install()  # every frame a test socket receives is checked against /api/asyncapi.json


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test whose sockets received a frame that the AsyncAPI document does not describe."""
    from gateway.tests.socket_contract import take_violations

    take_violations()
    result = yield
    violations = take_violations()
    if violations:
        pytest.fail(
            "The server sent messages outside the AsyncAPI document (gateway/asyncapi.py):\n" + "\n".join(violations),
            pytrace=False,
        )
    return result


def pytest_unconfigure(config):
    embedded_redis.stop(_embedded.pop("process", None))


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker):
    """The test database for every test (no test carries a django_db mark: `_real_commits` covers them all)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        db_cfg = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    yield
    with django_db_blocker.unblock():
        _disconnect_other_sessions()
        teardown_databases(db_cfg, verbosity=0)


def _disconnect_other_sessions():
    """Threads of socket tests may leave a connection idle; dropping the test database would wait for them."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


_KEPT_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


@pytest.fixture(autouse=True)
def _real_commits(transactional_db):
    """Every test commits for real: pushes and tasks run on commit, and other threads see the data."""


def _fast_fixture_teardown(self):
    """On PostgreSQL empty the tables with DELETE (triggers and FK checks off for that one transaction) instead of
    Django's TRUNCATE flush, which costs ~0.5 s a test there."""
    from django.db import connections

    if connections["default"].vendor != "postgresql":
        return _django_fixture_teardown(self)
    _empty_postgres_tables(connections["default"])


from django.test.testcases import TransactionTestCase  # noqa: E402

_django_fixture_teardown = TransactionTestCase._fixture_teardown
TransactionTestCase._fixture_teardown = _fast_fixture_teardown


def _empty_postgres_tables(connection):
    from django.db import transaction

    tables = sorted(set(connection.introspection.django_table_names(only_existing=True)) - _KEPT_TABLES)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in tables:
            cursor.execute(f'DELETE FROM "{table}"')


@pytest.fixture(autouse=True)
def _clean_redis():
    from nebengjek import redis_keys
    from nebengjek.redis import get_redis, reset_async_clients, role_urls

    for url in {url for urls in role_urls().values() for url in urls}:  # one Redis unless roles are split
        get_redis(url).flushdb()
    # An empty database has no revoked sign-in session: Redis' revoked sessions are complete, as the sweeper
    # (accounts.services.revoked_sessions_repair) leaves them; tests of a flush remove the marker themselves.
    get_redis().set(redis_keys.AUTH_REVOKED_COMPLETE, "tests")
    reset_async_clients()
    yield
    reset_async_clients()


@pytest.fixture(autouse=True)
def _products_cache_cleared():
    """Each test starts from its own (empty, then lazily seeded) product catalogue, not a cache of the last one's."""
    from products.selectors import products_cache_clear

    products_cache_clear()


class SmsOutbox:
    """Stands in for the SMS gateway (the outside world): keeps what would have been sent."""

    messages = []

    def send(self, *, msisdn, text):
        SmsOutbox.messages.append((msisdn, text))

    def last_code(self, msisdn):
        for to, text in reversed(self.messages):
            if to == msisdn:
                return text.rsplit(" ", 1)[-1]
        raise AssertionError(f"no SMS was sent to {msisdn}")


@pytest.fixture
def sms_outbox(settings):
    settings.SMS_BACKEND = "conftest.SmsOutbox"
    SmsOutbox.messages = []
    return SmsOutbox()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for():
    """client_for(user) -> an APIClient signed in as `user` (tokens issued the way sign-in issues them)."""
    from rest_framework.test import APIClient

    from accounts.services import tokens_issue

    def make(user):
        client = APIClient()
        tokens = tokens_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
        client.tokens = tokens
        client.user = user
        return client

    return make


@pytest.fixture
async def ws():
    """ws(user=None, *, token=None, via="header"|"query", headers=()) -> a connected WebsocketCommunicator.

    The communicator carries `.tokens` (the sign-in it used) and is disconnected after the test.
    """
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from accounts.services import tokens_issue
    from nebengjek.asgi import application

    opened = []

    async def connect(user=None, *, token=None, via="header", headers=(), expect_connected=True):
        tokens = None
        if user is not None and token is None:
            tokens = await database_sync_to_async(tokens_issue)(user=user)
            token = tokens["access"]
        path, all_headers = "/ws/", list(headers)
        if token is not None and via == "header":
            all_headers.append((b"authorization", f"Bearer {token}".encode()))
        elif token is not None:
            path = f"/ws/?token={token}"
        communicator = WebsocketCommunicator(application, path, headers=all_headers)
        communicator.tokens = tokens
        communicator.user_id = str(user.pk) if user is not None else None
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect_connected
        opened.append(communicator)
        return communicator

    yield connect
    for communicator in opened:
        try:
            await communicator.disconnect(timeout=2)
        except Exception:  # already closed by the server
            pass
    await database_sync_to_async(connections.close_all)()  # the worker thread's connection, before the DB drops
