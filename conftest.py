"""Suite-wide fixtures: the embedded Redis when none is configured, clean stores per test, signed-in clients."""
import pytest
from django.conf import settings

from nebengjek import embedded_redis

_embedded = {}


def pytest_configure(config):
    if settings.EMBEDDED_REDIS:
        _embedded["process"] = embedded_redis.start(settings.EMBEDDED_REDIS_PORT, settings.VAR_DIR / "redis-test")


def pytest_unconfigure(config):
    embedded_redis.stop(_embedded.pop("process", None))


@pytest.fixture(autouse=True)
def _real_commits(transactional_db):
    """Every test commits for real: pushes and tasks run on commit, and other threads see the data."""


@pytest.fixture(autouse=True)
def _clean_redis():
    from nebengjek.redis import get_redis, reset_async_clients

    get_redis().flushdb()
    reset_async_clients()
    yield
    reset_async_clients()


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
