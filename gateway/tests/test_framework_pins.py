"""Framework internals our code rewrote or reaches into for speed, pinned to the versions they were checked against.

Each rewrite relies on something a framework does not promise (a private method, a private naming scheme, a wire
format packed by hand). Two kinds of test per rewrite: (1) the installed framework is the version pinned in
requirements.txt, the one the rewrite was checked against; (2) what the rewrite relies on still holds there (the
source of the framework code it mirrors has the hash recorded here, a private name still comes out the same, a
hand-packed command is byte-identical to the library's own packing). On an upgrade a failure names the code of
ours to re-check; once re-checked, update the pin (requirements.txt) and the recorded hash below together.
"""

import hashlib
import importlib
import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)==([^\s#;]+)", line)
        if match:
            pins[_normalized(match.group(1))] = match.group(2)
    return pins


def _source_hash(dotted: str) -> str:
    """sha256 of the source of `module:Qualified.name`."""
    module_name, _, qualname = dotted.partition(":")
    target = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return hashlib.sha256(inspect.getsource(target).encode()).hexdigest()


# package -> the code of ours that was written against its pinned version (what to re-check on an upgrade)
REWRITES = {
    "channels": "gateway/consumers.py: UserSocketConsumer.__call__ / dispatch / websocket_disconnect and "
    "dispatch_from (Channels' AsyncConsumer.__call__, AsyncConsumer.dispatch and "
    "channels.utils.await_many_dispatch, rewritten)",
    "django": "gateway/asgi.py: OneHopASGIHandler (overrides BaseHandler.load_middleware and "
    "get_response_async, called by ASGIHandler)",
    "channels-redis": "nebengjek/realtime.py: _publish (publishes to RedisPubSubLoopLayer's private group channel "
    "names and uses RedisPubSubChannelLayer.serialize)",
    "redis": "locations/live.py: ingest_command (EVALSHA packed as RESP by hand) and LocationFlusher._execute "
    "(redis.asyncio Connection.send_packed_command / read_response, ConnectionPool.get_connection)",
    "djangorestframework-simplejwt": "gateway/nearby.py: _user_and_session (the nearby fast path validates access "
    "tokens with simplejwt's AccessToken, as the DRF view does)",
    "djangorestframework": "gateway/nearby.py: the nearby fast path answers as locations.apis.DriversNearbyApi "
    "does (re-run locations/tests/test_nearby_fast_path.py, which compares the two)",
    "uvicorn": "gateway/consumers.py: _server_transport (uvicorn's websocket `send` is a method of the protocol "
    "that holds the transport) and gateway/nearby.py (the fast path's own ASGI HTTP responses)",
}


@pytest.mark.parametrize("package", sorted(REWRITES))
def test_the_installed_framework_is_the_version_the_rewrite_was_checked_against(package):
    pinned = _pins().get(_normalized(package))
    assert pinned, f"{package} is no longer pinned in requirements.txt; {REWRITES[package]} was written against a pin"
    installed = version(package)
    assert installed == pinned, (
        f"{package} {installed} is installed but {REWRITES[package]} was checked against {pinned} "
        f"(requirements.txt). Re-check that code against {installed}, then update requirements.txt and the "
        f"recorded source hashes in {Path(__file__).name}."
    )


# Framework source our rewrites mirror: its hash at the pinned version, and what to re-check when it changes.
MIRRORED_SOURCE = {
    "channels.utils:await_many_dispatch": (
        "30ef889498560da3d72e6a695d2c17cf4a22b4948f2af6d53394343f4aace51d",
        (
            "gateway/consumers.py dispatch_from: must still return/raise as soon as either receive does, "
            "cancelling the other, like await_many_dispatch"
        ),
    ),
    "channels.consumer:AsyncConsumer.__call__": (
        "e52238720872dbc3f854519bc971aa7eb41553e63c8729081549ce42465ee419",
        (
            "gateway/consumers.py UserSocketConsumer.__call__: copies its set-up (scope, base_send, channel layer, "
            "new_channel) with dispatch_from in place of await_many_dispatch"
        ),
    ),
    "channels.consumer:AsyncConsumer.dispatch": (
        "39f34e7d4fb0f6552de4ade665b943fe78137379702af6b58c79a14c49a75520",
        (
            "gateway/consumers.py UserSocketConsumer.dispatch: bypasses it for websocket.receive and _DIRECT_TYPES "
            "(get_handler_name + getattr), so any new step it takes must be added there"
        ),
    ),
    "channels.generic.websocket:AsyncWebsocketConsumer.websocket_disconnect": (
        "10f38aa55fd51ff5e66e84eec77773a996e279de59190aef99322e27d354f078",
        (
            "gateway/consumers.py UserSocketConsumer.websocket_disconnect: replaces it (group_discard tolerant of a "
            "lost Redis, then disconnect + StopConsumer)"
        ),
    ),
    "django.core.handlers.base:BaseHandler.load_middleware": (
        "a1fb7ee5f8586195da2174d1bbc2bbfc7ca19b9d26ea66412cb434f45bf6d467",
        "gateway/asgi.py OneHopASGIHandler.load_middleware: forces the sync middleware chain",
    ),
    "django.core.handlers.base:BaseHandler.get_response_async": (
        "ad82c920df0cebbb52b1ebafe6ab8b5541f200c39fa954a148b01f60725b715b",
        (
            "gateway/asgi.py OneHopASGIHandler.get_response_async: replaced by one sync_to_async(get_response) hop; "
            "anything it does besides running the chain (signals, logging of 4xx/5xx, resource closers) must be kept"
        ),
    ),
    "django.core.handlers.asgi:ASGIHandler.handle": (
        "98faeb5bef800331e6a8002fbc96b30e4122a23438ae45a047190a531ea11323",
        "gateway/asgi.py OneHopASGIHandler: must still reach the response through self.get_response_async",
    ),
    "django.core.handlers.asgi:ASGIHandler.__init__": (
        "41379d4f4b69f900b62a201a442d0721c965e26906a6a64f11c8b846bf3b3a38",
        "gateway/asgi.py OneHopASGIHandler: must still build its chain with self.load_middleware",
    ),
}


@pytest.mark.parametrize("dotted", sorted(MIRRORED_SOURCE))
def test_the_framework_source_a_rewrite_mirrors_is_unchanged(dotted):
    recorded, what_to_recheck = MIRRORED_SOURCE[dotted]
    assert _source_hash(dotted) == recorded, (
        f"The source of {dotted} changed (sha256 {_source_hash(dotted)}, recorded {recorded}). Re-check "
        f"{what_to_recheck}; then record the new hash in {Path(__file__).name}."
    )


def test_the_one_hop_handler_runs_the_middleware_chain_synchronously():
    from gateway.asgi import OneHopASGIHandler

    handler = OneHopASGIHandler()
    assert not inspect.iscoroutinefunction(handler._middleware_chain), (
        "Django's ASGIHandler no longer builds its chain through load_middleware(is_async=...): "
        "re-check gateway/asgi.py OneHopASGIHandler against the installed Django"
    )


def test_the_group_channel_name_realtime_publishes_to_is_channels_redis_own():
    from channels_redis.pubsub import RedisPubSubLoopLayer

    layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1"], prefix="njpin")
    assert layer._get_group_channel_name("user.42") == "njpin__group__user.42", (
        "channels_redis names a group's pub/sub channel differently now: nebengjek/realtime.py _publish "
        "publishes to f'{prefix}__group__{group}' and its pushes would reach no socket; follow the new naming"
    )


def test_realtime_publishes_what_the_pubsub_layer_would_serialize():
    from channels_redis.pubsub import RedisPubSubChannelLayer

    assert "serialize" in vars(RedisPubSubChannelLayer) and "deserialize" in vars(RedisPubSubChannelLayer), (
        "RedisPubSubChannelLayer no longer has serialize/deserialize: nebengjek/realtime.py _publish uses "
        "layer.serialize to write messages its subscribers read; re-check it"
    )


def _redis_py_packing(*args) -> bytes:
    from redis.asyncio.connection import Connection

    return b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize(
    "user_id, lat, lng, t",
    [
        (7, -6.2, 106.816666, 1_760_000_000.25),
        ("3f2b8c1e-aaaa-4bbb-8ccc-0123456789ab", 0.0, -0.0, 1.0),
        (123456789, -90, 180, 2_000_000_000),
    ],
)
def test_the_hand_packed_ingest_command_is_byte_identical_to_redis_pys_packing(user_id, lat, lng, t):
    from locations import live

    keys, args = live.ingest_keys_args(user_id, lat, lng, t, now=t + 0.5)
    sha = hashlib.sha1(live.INGEST_LUA.encode()).hexdigest()
    expected = _redis_py_packing("EVALSHA", sha, len(keys), *keys, *args)
    assert live.ingest_command(user_id, lat, lng, t, now=t + 0.5) == expected, (
        "locations/live.py ingest_command packs a different EVALSHA than redis-py's pack_command for the same "
        "arguments (ingest_keys_args): fix _INGEST_HEAD / _Config.ingest_keys / ingest_tail to match"
    )


def test_the_ingest_sha_is_the_one_redis_py_registers():
    from locations import live

    packed_sha = live.ingest_command(1, 0.0, 0.0, 0.0).split(b"\r\n")[4].decode()
    assert packed_sha == live.get_live_redis().register_script(live.INGEST_LUA).sha, (
        "locations/live.py ingest_command's EVALSHA names another sha than redis-py's Script for INGEST_LUA"
    )


def test_the_redis_py_connection_internals_the_flusher_uses_still_exist():
    from redis.asyncio.connection import AbstractConnection, ConnectionPool

    send = inspect.signature(AbstractConnection.send_packed_command)
    assert "check_health" in send.parameters and inspect.iscoroutinefunction(AbstractConnection.send_packed_command), (
        "redis.asyncio Connection.send_packed_command(command, check_health=...) changed: re-check "
        "locations/live.py LocationFlusher._execute"
    )
    assert inspect.iscoroutinefunction(AbstractConnection.read_response), (
        "redis.asyncio Connection.read_response changed: re-check locations/live.py LocationFlusher._execute"
    )
    required = [
        p
        for p in list(inspect.signature(ConnectionPool.get_connection).parameters.values())[1:]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert not required and inspect.iscoroutinefunction(ConnectionPool.release), (
        "redis.asyncio ConnectionPool.get_connection()/release() changed: re-check locations/live.py "
        "LocationFlusher._execute"
    )


def test_uvicorns_websocket_send_is_a_method_of_the_protocol_that_holds_the_transport():
    from uvicorn.protocols.websockets.websockets_sansio_impl import (
        WebSocketsSansIOProtocol,
    )

    assert "self.transport = transport" in inspect.getsource(WebSocketsSansIOProtocol.connection_made), (
        "uvicorn's websocket protocol no longer keeps `transport`: gateway/consumers.py _server_transport finds "
        "no transport and a client that stops reading is no longer dropped; re-check it"
    )
    assert "self.app(self.scope, self.receive, self.send)" in inspect.getsource(WebSocketsSansIOProtocol.run_asgi), (
        "uvicorn no longer hands its protocol's bound `send` to the app: re-check gateway/consumers.py "
        "_server_transport"
    )
