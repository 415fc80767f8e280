"""Batched dispatch (MATCHING_MODE=batched): requests of one H3 cell wait for their window and are assigned together.

The window's task is held back here (Celery not eager: it is queued, not run) and then called directly, as the
worker would when the window's countdown ends.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.db import transaction

from matching import tasks
from matching.models import Match, RequestStatus, RideRequest
from matching.services import request_create
from matching.tests.helpers import (
    DESTINATION,
    PICKUP,
    ask_for_ride,
    driver_online,
    make_passenger,
    north_of,
    proposals_of,
    received,
)
from matching.tests.test_metrics import metric
from matching.windows import window_cell
from nebengjek.redis import get_redis
from tests.reliability.parallel import at_once

SOUTH_PICKUP = (PICKUP[0] - 300 / 111_195.08, PICKUP[1])  # 300 m south of PICKUP
FAR_PICKUP = (-6.35, 106.65)  # ~23 km away: another window cell
FAR_DESTINATION = (-6.36, 106.65)


@pytest.fixture
def windows_wait(settings):
    """Batched mode with the windows' tasks queued for the worker instead of run at once."""
    settings.MATCHING_MODE = "batched"
    current_app.conf.task_always_eager = False
    yield
    current_app.conf.task_always_eager = True


def window_closes(point=PICKUP):
    return tasks.requests_window(window_cell(lat=point[0], lng=point[1]))


def offered_to(request_id):
    return set(Match.objects.filter(request_id=request_id).values_list("driver_id", flat=True))


def test_requests_wait_for_their_window_and_are_then_proposed(windows_wait, client_for):
    driver = driver_online(300)

    request = ask_for_ride(client_for(make_passenger()))
    before_window = proposals_of(driver)
    window_closes()

    assert request["status"] == "searching" and before_window == []
    assert [proposal["request_id"] for proposal in proposals_of(driver)] == [request["id"]]


def test_the_window_shortens_the_pickups_of_all_its_requests_not_just_the_first(windows_wait, client_for):
    # the first request's nearest driver is nearer still to the second request, whose only other driver is far
    shared = driver_online(100)  # 100 m north of the first pickup, 200 m from the second
    other = driver_online(-400)  # 400 m south of the first pickup, 700 m from the second
    first = ask_for_ride(client_for(make_passenger()))
    second = ask_for_ride(
        client_for(make_passenger()), pickup=north_of(PICKUP, 300), destination=north_of(DESTINATION, 300)
    )

    window_closes()

    assert offered_to(first["id"]) == {other.id}
    assert offered_to(second["id"]) == {shared.id}
    # 600 m of pickups in all, where offering the first request its nearest driver would leave 800 m
    assert [p["distance_to_pickup_m"] for p in proposals_of(other) + proposals_of(shared)] == [400, 200]


def test_immediate_dispatch_gives_the_first_request_every_driver_near(client_for):
    shared, other = driver_online(100), driver_online(-400)

    first = ask_for_ride(client_for(make_passenger()))
    second = ask_for_ride(
        client_for(make_passenger()), pickup=north_of(PICKUP, 300), destination=north_of(DESTINATION, 300)
    )

    assert offered_to(first["id"]) == {shared.id, other.id}
    assert RideRequest.objects.get(id=second["id"]).status == RequestStatus.NO_DRIVER


def test_a_request_gets_up_to_its_batch_of_drivers_once_every_request_has_one(windows_wait, client_for):
    drivers = [driver_online(metres) for metres in (100, 200, 300, 400)]
    first = ask_for_ride(client_for(make_passenger()))
    second = ask_for_ride(client_for(make_passenger()), pickup=SOUTH_PICKUP)

    window_closes()

    assert len(offered_to(first["id"])) + len(offered_to(second["id"])) == 4
    assert offered_to(first["id"]) and offered_to(second["id"])
    assert not offered_to(first["id"]) & offered_to(second["id"])
    assert all(len(proposals_of(driver)) == 1 for driver in drivers)


def test_a_request_left_without_a_driver_joins_the_next_window_at_a_wider_radius(windows_wait, client_for):
    only = driver_online(100)
    first = ask_for_ride(client_for(make_passenger()))
    second = ask_for_ride(client_for(make_passenger()), pickup=SOUTH_PICKUP)
    window_closes()
    loser = second if offered_to(first["id"]) == {only.id} else first
    after_first_window = RideRequest.objects.get(id=loser["id"])
    farther = driver_online(1600)

    window_closes()

    assert after_first_window.status == RequestStatus.SEARCHING and after_first_window.radius_m == 1000
    assert offered_to(loser["id"]) == {farther.id}
    assert RideRequest.objects.get(id=loser["id"]).radius_m == 2000


def test_a_request_left_without_a_driver_at_the_last_radius_is_no_driver(windows_wait, client_for, settings):
    settings.MATCHING_RADII_M = [1000]
    driver_online(100)
    passengers = [make_passenger(), make_passenger()]
    requests = [ask_for_ride(client_for(passengers[0])), ask_for_ride(client_for(passengers[1]), pickup=SOUTH_PICKUP)]

    window_closes()

    statuses = sorted(RideRequest.objects.get(id=request["id"]).status for request in requests)
    assert statuses == [RequestStatus.NO_DRIVER, RequestStatus.SEARCHING]
    told = [received(passenger, "request.updated") for passenger in passengers]
    assert sorted(len(events) for events in told) == [0, 1]


def test_windows_of_different_cells_are_assigned_separately(windows_wait, client_for):
    near_driver = driver_online(300)
    far_driver = driver_online(300, point=FAR_PICKUP)
    near = ask_for_ride(client_for(make_passenger()))
    far = ask_for_ride(client_for(make_passenger()), pickup=FAR_PICKUP, destination=FAR_DESTINATION)

    window_closes(PICKUP)

    assert window_cell(lat=PICKUP[0], lng=PICKUP[1]) != window_cell(lat=FAR_PICKUP[0], lng=FAR_PICKUP[1])
    assert offered_to(near["id"]) == {near_driver.id} and offered_to(far["id"]) == set()
    window_closes(FAR_PICKUP)
    assert offered_to(far["id"]) == {far_driver.id}


def test_a_window_run_twice_proposes_nothing_more(windows_wait, client_for):
    driver_online(300), driver_online(500)
    request = ask_for_ride(client_for(make_passenger()))
    window_closes()

    outcome = window_closes()

    assert outcome == {"requests": 0, "proposed": 0, "rolled": 0}
    assert len(offered_to(request["id"])) == 2


def test_the_solvers_time_and_the_windows_size_show_on_metrics(windows_wait, api_client, client_for):
    driver_online(300)
    solved_before = metric(api_client, "nebengjek_dispatch_solve_seconds_count")
    sized_before = metric(api_client, "nebengjek_dispatch_window_requests_sum")
    ask_for_ride(client_for(make_passenger()))
    ask_for_ride(client_for(make_passenger()), pickup=SOUTH_PICKUP)

    window_closes()

    assert metric(api_client, "nebengjek_dispatch_solve_seconds_count") == solved_before + 1
    assert metric(api_client, "nebengjek_dispatch_window_requests_sum") == sized_before + 2


def pickups_either_side_of_a_window_boundary():
    """Two pickups 300 m apart in two window cells, and the point half-way between them."""
    cell = window_cell(lat=PICKUP[0], lng=PICKUP[1])
    metres = next(m for m in range(50, 30_000, 50) if window_cell(lat=north_of(PICKUP, m)[0], lng=PICKUP[1]) != cell)
    return north_of(PICKUP, metres - 150), north_of(PICKUP, metres + 150), north_of(PICKUP, metres)


@pytest.mark.slow
@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="row locks and concurrent writers need PostgreSQL; SQLite serializes all writers",
)
def test_two_cells_windows_wanting_one_driver_at_once_never_give_them_twice(windows_wait, client_for):
    south, north, between = pickups_either_side_of_a_window_boundary()
    driver = driver_online(0, point=between)

    for _ in range(20):
        clients = [client_for(make_passenger()), client_for(make_passenger())]
        requests = [
            ask_for_ride(clients[0], pickup=south, destination=north_of(south, -1000)),
            ask_for_ride(clients[1], pickup=north, destination=north_of(north, 1000)),
        ]

        outcomes = at_once(lambda: window_closes(south), lambda: window_closes(north))

        assert not [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert sum(outcome["proposed"] for outcome in outcomes) == 1
        assert Match.objects.filter(driver=driver, holds_driver=True).count() == 1
        # The loser rolls over, or ends `no_driver` when its search ran after the winner took the only driver.
        for client, request in zip(clients, requests, strict=True):
            if client.get(f"/api/v1/rides/requests/{request['id']}").json()["status"] != "no_driver":
                assert client.post(f"/api/v1/rides/requests/{request['id']}/cancel").status_code == 200


def test_a_windows_countdown_is_not_held_back_by_a_later_timer_the_worker_already_sleeps_on():
    """The dispatch worker (thread pool) times countdowns on celery's timer thread, which sleeps up to
    worker_timer_precision without noticing an earlier entry: a window's 500 ms must not wait behind it."""
    from celery.concurrency.thread import TaskPool

    sleeping, fired = threading.Event(), threading.Event()
    timer = TaskPool.Timer(max_interval=current_app.conf.worker_timer_precision, on_tick=lambda delay: sleeping.set())
    try:
        timer.call_after(10.0, lambda: None)  # a batch expiry's timer: the thread goes to sleep on it
        assert sleeping.wait(timeout=5)
        started = time.monotonic()
        timer.call_after(0.05, fired.set)  # a window's countdown, entered while it sleeps

        assert fired.wait(timeout=5)
        # Celery's default precision (1 s) would hold it until the thread's next wake, a second after it slept.
        assert time.monotonic() - started < 0.8
    finally:
        timer.stop()


def test_a_new_requests_window_closes_a_window_after_its_arrival_however_late_its_commit(windows_wait):
    driver_online(300)
    passenger = make_passenger()

    with time_machine.travel(datetime(2026, 3, 2, 8, 0, tzinfo=UTC), tick=False) as clock:
        with transaction.atomic():  # a caller's transaction: the request commits (and joins its window) 0.3 s later
            request = request_create(
                passenger=passenger,
                pickup_lat=PICKUP[0],
                pickup_lng=PICKUP[1],
                destination_lat=DESTINATION[0],
                destination_lng=DESTINATION[1],
            )
            clock.shift(timedelta(seconds=0.3))

    window_tasks = [
        message
        for message in map(json.loads, get_redis().lrange(settings.MATCHING_QUEUE, 0, -1))
        if message["headers"]["task"] == "matching.tasks.requests_window"
    ]
    assert len(window_tasks) == 1
    eta = datetime.fromisoformat(window_tasks[0]["headers"]["eta"])
    assert eta - request.created_at == timedelta(milliseconds=settings.MATCHING_BATCH_WINDOW_MS)
