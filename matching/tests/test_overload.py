"""Overload is graceful and visible (issue 22): new ride requests are shed at the door with 503 dispatch_overloaded and
Retry-After while a backlog is past its threshold (a metric and a WARNING say so), and a proposal is never delivered
after its expiry."""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from prometheus_client import REGISTRY

from matching.tests.conftest import next_of_type
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    make_passenger,
    request_body,
)
from nebengjek import sync_pool
from nebengjek.redis import get_redis

db = database_sync_to_async


def _shed(reason):
    return REGISTRY.get_sample_value("nebengjek_ride_requests_shed_total", {"reason": reason}) or 0


def _dispatch_backlog(tasks):
    client = get_redis(settings.CELERY_BROKER_URL)
    client.delete(settings.MATCHING_QUEUE)
    if tasks:
        client.rpush(settings.MATCHING_QUEUE, *[f"task-{i}" for i in range(tasks)])


def test_a_new_request_is_shed_with_503_and_retry_after_while_the_dispatch_backlog_is_past_its_threshold(
    client_for, settings, caplog
):
    settings.MATCHING_SHED_DISPATCH_BACKLOG, settings.MATCHING_SHED_PROBE_SECONDS = 3, 0
    settings.MATCHING_SHED_RETRY_AFTER_SECONDS = 4
    driver_online(100)
    passenger = client_for(make_passenger())
    shed_before = _shed("dispatch_backlog")
    _dispatch_backlog(4)

    with caplog.at_level(logging.WARNING, logger="matching.overload"):
        refused = passenger.post("/api/v1/rides/requests", request_body(), format="json")
    _dispatch_backlog(3)
    accepted = passenger.post("/api/v1/rides/requests", request_body(), format="json")

    assert refused.status_code == 503 and refused["Retry-After"] == "4"
    error = refused.json()["error"]
    assert error["code"] == "dispatch_overloaded"
    assert error["details"] == {"reason": "dispatch_backlog", "retry_after_s": 4, "backlog": 4, "threshold": 3}
    assert _shed("dispatch_backlog") == shed_before + 1
    assert any(
        "shedding new ride requests" in record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING
    )
    assert accepted.status_code == 201, accepted.json()


def test_shedding_refuses_only_new_requests_the_ride_already_taken_goes_on(client_for, settings):
    settings.MATCHING_SHED_DISPATCH_BACKLOG, settings.MATCHING_SHED_PROBE_SECONDS = 1, 0
    driver_user = driver_online(100)
    passenger, driver = client_for(make_passenger()), client_for(driver_user)
    request = ask_for_ride(passenger)
    match_id = passenger.get(f"/api/v1/rides/requests/{request['id']}").json()
    _dispatch_backlog(5)

    from matching.tests.helpers import last_proposal

    accepted = driver.post(f"/api/v1/matches/{last_proposal(driver_user)['id']}/accept")
    confirmed = passenger.post(f"/api/v1/rides/requests/{request['id']}/confirm")
    another = client_for(make_passenger()).post("/api/v1/rides/requests", request_body(), format="json")

    assert match_id["status"] == "searching"
    assert accepted.status_code == 200 and confirmed.status_code == 201
    assert another.status_code == 503 and another.json()["error"]["code"] == "dispatch_overloaded"


async def test_a_proposal_already_expired_when_its_push_is_delivered_is_dropped_not_sent(ws, client_for, settings):
    settings.MATCHING_PROPOSAL_TTL_SECONDS = 0  # every proposal has expired by the time the socket could send it
    driver = await db(driver_online)(100)
    socket = await ws(driver)
    passenger = await db(client_for)(await db(make_passenger)())
    dropped_before = REGISTRY.get_sample_value("nebengjek_proposals_dropped_expired_total") or 0

    request = await db(ask_for_ride)(passenger)  # its batch is expired at once (eager dispatch timer): match.expired
    first = await socket.receive_json_from(timeout=5)  # pushes leave in order: the proposal would come first

    assert first["type"] == "match.expired" and first["match"]["request_id"] == request["id"]
    assert (REGISTRY.get_sample_value("nebengjek_proposals_dropped_expired_total") or 0) == dropped_before + 1


async def test_a_proposal_still_open_when_delivered_is_sent(ws, client_for):
    driver = await db(driver_online)(100)
    socket = await ws(driver)
    passenger = await db(client_for)(await db(make_passenger)())

    request = await db(ask_for_ride)(passenger)
    proposal = await next_of_type(socket, "match.proposal")

    assert proposal["match"]["request_id"] == request["id"]


async def test_a_new_request_is_shed_while_the_servers_event_loop_runs_late(client_for, settings):
    settings.MATCHING_SHED_LOOP_LAG_MS = 100
    passenger = await db(client_for)(await db(make_passenger)())
    sync_pool.watch_event_loop()
    await asyncio.sleep(2 * sync_pool.LAG_PROBE_SECONDS)  # the probe runs on time once
    time.sleep(0.3)  # the loop is held: its next probe runs 300 ms late, as under a flood of pushes
    await asyncio.sleep(2 * sync_pool.LAG_PROBE_SECONDS)

    refused = await db(passenger.post)("/api/v1/rides/requests", request_body(), format="json")

    assert refused.status_code == 503 and refused["Retry-After"] == str(settings.MATCHING_SHED_RETRY_AFTER_SECONDS)
    assert refused.json()["error"]["details"]["reason"] == "event_loop_lag"


async def test_a_resume_replays_an_expired_proposal_as_history_only_never_as_an_offer(ws, client_for, settings):
    settings.MATCHING_PROPOSAL_TTL_SECONDS = 0  # the proposal has expired before the driver comes back
    driver = await db(driver_online)(100)
    passenger = await db(client_for)(await db(make_passenger)())
    request = await db(ask_for_ride)(passenger)
    stored = (await db((await db(client_for)(driver)).get)("/api/v1/events?after=0")).json()["results"]
    assert [e["type"] for e in stored if e["type"].startswith("match.")] == ["match.proposal", "match.expired"]

    socket = await ws(driver)
    await socket.send_json_to({"type": "resume", "id": "r", "after": 0})
    replayed = []
    while (message := await socket.receive_json_from(timeout=5))["type"] != "ack":
        replayed.append(message)

    assert "match.proposal" not in [m["type"] for m in replayed]
    assert [m["match"]["request_id"] for m in replayed if m["type"] == "match.expired"] == [request["id"]]
    assert message["last_seq"] == stored[-1]["seq"] and message["replayed"] == len(replayed)
