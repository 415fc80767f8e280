"""Redis lost (issue 9, item 6): the app pointed at a private redis-server that is killed and restarted empty.

REDIS_URL, the cache and the channel layer all point at that server (Celery is eager in tests) (its port:
RELIABILITY_REDIS_PORT, default 6510 + 1; never the machine's Redis). While it is gone every REST operation of the
schema either works or answers 503 `service_unavailable` in the error shape — never a 500 — and /health/ready
answers 503 naming redis.
After a restart (empty) drivers reappear in nearby from their next location once the live sweeper (beat, every 10 s)
has re-derived the beacon set from the database, and no ride or rupiah has moved.
"""

import os
import threading
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger
from locations.tasks import live_sweep
from tests.reliability.procs import RedisServer
from tests.security.test_authorization_matrix import (
    EXERCISE,
    OPERATIONS,
    Owned,
    Public,
    assert_error_shape,
    call,
    error_code,
    snapshot,
    world,  # noqa: F401  (a pytest fixture)
)

PORT = int(os.environ.get("RELIABILITY_REDIS_PORT", "6510")) + 1
NEAR = {"lat": -6.2000, "lng": 106.8000}


def settle_or_unavailable(response):
    """Works, is refused for a domain reason, or is 503 service_unavailable in the error shape; never another 5xx."""
    if response.status_code < 500:
        return True
    assert_error_shape(response)
    return response.status_code == 503 and error_code(response) == "service_unavailable"


@pytest.fixture
def private_redis(settings):
    """Point every Redis user at a fresh redis-server on PORT; yields the server (stop()/start() it at will)."""
    from channels.layers import channel_layers

    from nebengjek.redis import reset_async_clients

    server = RedisServer(PORT).start()
    settings.REDIS_URL = settings.LIVE_REDIS_URL = settings.RATE_REDIS_URL = settings.CACHE_REDIS_URL = server.url
    settings.CHANNEL_REDIS_URLS = [server.url]
    settings.CACHES = {alias: {**cache, "LOCATION": server.url} for alias, cache in settings.CACHES.items()}
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {
                **settings.CHANNEL_LAYERS["default"]["CONFIG"],
                "hosts": [{"address": server.url, "socket_timeout": None}],
            },
        }
    }
    forget_clients = [channel_layers.backends.clear, reset_async_clients]
    for forget in forget_clients:
        forget()
    yield server
    server.__exit__()
    for forget in forget_clients:  # bound to this server: the next test gets the suite's Redis again
        forget()


def signed_in(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access']}")
    return api


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_with_redis_gone_an_operation_works_or_answers_503_never_500(private_redis, world, operation):
    method, template = operation
    case = EXERCISE[operation]
    caller, path = world.passenger, template
    if isinstance(case, Owned):
        path = template.format(**{name: str(value) for name, value in case.setup(world).items()})
        caller = world.passenger if case.owner == "passenger" else world.driver
    elif isinstance(case, Public):
        caller = None
    drivers_too = [caller] + ([world.driver] if not isinstance(case, (Owned, Public)) else [])

    private_redis.stop()
    responses = [call(user, method, path, case) for user in drivers_too]

    assert [r.status_code for r in responses if not settle_or_unavailable(r)] == [], [r.content for r in responses]


def test_ready_is_503_naming_redis_while_it_is_gone_and_200_after_it_returns(private_redis, api_client):
    private_redis.stop()
    gone = api_client.get("/health/ready")
    private_redis.start()
    back = api_client.get("/health/ready")

    assert gone.status_code == 503
    assert gone.json()["error"]["code"] == "service_unavailable"
    assert gone.json()["error"]["details"]["checks"]["redis"] == "unavailable"
    assert back.status_code == 200


def nearby_driver_ids(passenger_api):
    response = passenger_api.get(f"/api/v1/drivers/nearby?lat={NEAR['lat']}&lng={NEAR['lng']}")
    assert response.status_code == 200, response.content
    body = response.json()
    items = body["drivers"] if isinstance(body, dict) else body
    return {item.get("driver_id") or item.get("id") for item in items}


def traffic(apis, stop, statuses):
    """Drivers send locations and passengers look for them until `stop`: the live traffic Redis dies under."""
    try:
        while not stop.is_set():
            for driver_api, passenger_api in apis:
                statuses[driver_api.post("/api/v1/locations", NEAR, format="json").status_code] += 1
                statuses[
                    passenger_api.get(f"/api/v1/drivers/nearby?lat={NEAR['lat']}&lng={NEAR['lng']}").status_code
                ] += 1
                statuses[passenger_api.get("/api/v1/wallet").status_code] += 1
    finally:
        connections.close_all()


def wait_until(condition, bound=30):
    deadline = time.monotonic() + bound
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_redis_restarted_empty_mid_traffic_drivers_reappear_and_no_ride_or_money_moves(private_redis, world):
    drivers = [make_driver() for _ in range(3)]
    driver_apis = [signed_in(driver) for driver in drivers]
    for api in driver_apis:
        assert api.post("/api/v1/drivers/me/beacon", {"active": True}, format="json").status_code < 300
        assert api.post("/api/v1/locations", NEAR, format="json").status_code < 300
    passenger_api = signed_in(make_passenger())
    assert {str(d.id) for d in drivers} <= nearby_driver_ids(passenger_api)
    before = snapshot()

    stop, statuses = threading.Event(), Counter()
    worker = threading.Thread(target=traffic, args=([(api, passenger_api) for api in driver_apis], stop, statuses))
    worker.start()
    try:
        wait_until(lambda: statuses[200] >= 6)
        private_redis.stop()
        wait_until(lambda: statuses[503] >= 6)  # the traffic has met the outage
        private_redis.start()  # empty: nothing kept on disk
        served_before_restart = statuses[200]
        wait_until(lambda: statuses[200] >= served_before_restart + 6)  # and is served again
    finally:
        stop.set()
        worker.join(60)
    lost_after_restart = {str(d.id) for d in drivers} - nearby_driver_ids(passenger_api)

    live_sweep.delay()  # beat runs it every LIVE_SWEEP_INTERVAL_SECONDS: beacons re-derived from the database
    for api in driver_apis:  # their next location: the apps send one every few seconds
        assert api.post("/api/v1/locations", NEAR, format="json").status_code < 300

    assert not worker.is_alive()
    assert {code for code in statuses if code >= 500} == {503}, statuses
    print(f"traffic through the outage: {dict(statuses)}")
    assert {str(d.id) for d in drivers} <= nearby_driver_ids(passenger_api), lost_after_restart
    assert snapshot() == before
    call_command("reconcile_ledger", stdout=open(os.devnull, "w"))


def test_with_redis_gone_a_socket_answers_service_unavailable_and_stays_up(private_redis):
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from nebengjek.asgi import application

    driver = make_driver()
    assert signed_in(driver).post("/api/v1/drivers/me/beacon", {"active": True}, format="json").status_code < 300
    token = tokens_issue(user=driver)["access"]

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
        assert (await socket.connect(timeout=5))[0]
        try:
            private_redis.stop()
            replies = []
            for message_id, message in enumerate(
                [{"type": "location", **NEAR}, {"type": "beacon", "active": True}, {"type": "ping"}], start=1
            ):
                await socket.send_json_to({**message, "id": message_id})
                replies.append(await socket.receive_json_from(timeout=10))
            return replies
        finally:
            await asyncio.wait_for(socket.disconnect(), 5)

    location, beacon, ping = async_to_sync(scenario)()
    connections.close_all()

    for reply in (location, beacon):
        assert reply["type"] == "ack" or reply.get("error", {}).get("code") == "service_unavailable", reply
    assert ping == {"type": "ack", "id": 3}
    print(f"socket with Redis gone: {location} {beacon}")
