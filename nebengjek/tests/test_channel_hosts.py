"""The channel layer over several Redis hosts (CHANNEL_REDIS_URLS): channels_redis puts each group's pub/sub channel
on the host its name hashes to, and the synchronous publisher (nebengjek.realtime) must publish each push there.

Two plain redis-servers are started on CHANNEL_TEST_REDIS_PORT and +1 (default 9500); skipped without redis-server.
"""

import os
import shutil

import pytest
import redis
from channels.db import database_sync_to_async
from channels_redis.utils import _consistent_hash

from accounts.tests.factories import make_passenger
from nebengjek.realtime import send_events_on_commit, user_group

PORT = int(os.environ.get("CHANNEL_TEST_REDIS_PORT", "9500"))

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@pytest.fixture
def two_channel_hosts(settings):
    """The channel layer on two fresh redis-servers; yields their clients (host 0, host 1)."""
    from channels.layers import channel_layers

    from tests.reliability.procs import RedisServer

    servers = [RedisServer(PORT).start(), RedisServer(PORT + 1).start()]
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**config, "hosts": [{"address": server.url, "socket_timeout": None} for server in servers]},
        }
    }
    channel_layers.backends.clear()
    yield [redis.Redis(port=server.port) for server in servers], config["prefix"]
    channel_layers.backends.clear()
    for server in servers:
        server.__exit__()


def passengers_on_both_hosts(prefix):
    """Passengers until one's group channel hashes to host 0 and another's to host 1."""
    found = {}
    while len(found) < 2:
        passenger = make_passenger()
        found.setdefault(_consistent_hash(f"{prefix}__group__{user_group(passenger.pk)}", 2), passenger)
    return found[0], found[1]


async def test_a_push_reaches_sockets_whose_groups_live_on_two_different_hosts(two_channel_hosts, ws):
    clients, prefix = two_channel_hosts
    first, second = await database_sync_to_async(passengers_on_both_hosts)(prefix)
    sockets = [await ws(first), await ws(second)]

    await database_sync_to_async(send_events_on_commit)(
        [([first.pk], "test.cross_host", {"n": 1}), ([second.pk], "test.cross_host", {"n": 2})]
    )
    received = [await socket.receive_json_from(timeout=5) for socket in sockets]

    assert [(message["type"], message["n"]) for message in received] == [("test.cross_host", 1), ("test.cross_host", 2)]
    subscribed = [set(map(bytes.decode, client.pubsub_channels(f"{prefix}__group__*"))) for client in clients]
    assert subscribed == [{f"{prefix}__group__{user_group(first.pk)}"}, {f"{prefix}__group__{user_group(second.pk)}"}]
