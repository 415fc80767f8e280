"""Dispatch race (issue 9, item 4): 200 passengers and 50 drivers in threads against PostgreSQL, all at once.

Passengers ask for rides and confirm as soon as a driver is found; every driver accepts every proposal it sees,
as fast as it can. Then the sweeper runs with the clock moved on. Afterwards: no driver holds two live matches or
rides, no passenger has two rides, every request is in a terminal state, and no call answered 5xx.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger
from locations.services import beacon_set, location_ingest
from matching.models import Match, RequestStatus, RideRequest
from matching.tasks import sweep
from rides.models import LIVE_RIDE_STATUSES, Ride
from tests.reliability.parallel import postgres_only

pytestmark = [postgres_only, pytest.mark.slow, pytest.mark.timeout(300)]

PASSENGERS, DRIVERS = 200, 50
THREADS = 40  # PostgreSQL allows 100 connections; each thread holds one
DRIVER_THREADS = 10  # five drivers each
PLAY_SECONDS = 5  # how long passengers wait for a driver once they asked (drivers accept until all are done)
PICKUP, DESTINATION = (-6.2, 106.8), (-6.21, 106.8)
TERMINAL = {RequestStatus.CONFIRMED, RequestStatus.NO_DRIVER, RequestStatus.EXPIRED, RequestStatus.CANCELLED}


def client(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access']}")
    return api


class Calls:
    """Every status code answered, counted across threads under a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = Counter()

    def record(self, response):
        with self.lock:
            self.statuses[response.status_code] += 1
        return response


def drive(drivers, calls, stop):
    """One thread for a few drivers: each accepts every proposal in its events, until told to stop."""
    apis, after, accepted = [client(d) for d in drivers], [0] * len(drivers), 0
    try:
        while not stop.is_set():
            for i, api in enumerate(apis):
                for event in calls.record(api.get(f"/api/v1/events?after={after[i]}")).json()["results"]:
                    after[i] = max(after[i], event["seq"])
                    if event["type"] == "match.proposal":
                        answer = calls.record(api.post(f"/api/v1/matches/{event['match']['id']}/accept"))
                        accepted += answer.status_code == 200
            time.sleep(0.005)
    finally:
        connections.close_all()
    return accepted


def ride_along(passengers, calls):
    """One thread for a few passengers: each asks for a ride, then confirms as soon as a driver is found."""
    body = {
        "pickup": {"lat": PICKUP[0], "lng": PICKUP[1]},
        "destination": {"lat": DESTINATION[0], "lng": DESTINATION[1]},
    }
    waiting, outcomes = {}, []
    try:
        for passenger in passengers:
            api = client(passenger)
            response = calls.record(api.post("/api/v1/rides/requests", body, format="json"))
            if response.status_code == 201:
                waiting[response.json()["id"]] = api
            else:
                outcomes.append(response.status_code)
        deadline = time.monotonic() + PLAY_SECONDS
        while waiting and time.monotonic() < deadline:
            for request_id, api in list(waiting.items()):
                status = calls.record(api.get(f"/api/v1/rides/requests/{request_id}")).json()["status"]
                if status == RequestStatus.DRIVER_FOUND:
                    calls.record(api.post(f"/api/v1/rides/requests/{request_id}/confirm"))
                elif status != RequestStatus.SEARCHING:
                    outcomes.append(status)
                    del waiting[request_id]
            time.sleep(0.005)
        return outcomes + ["still open at the deadline"] * len(waiting)
    finally:
        connections.close_all()


def groups(items, n):
    return [items[i::n] for i in range(n)]


def test_two_hundred_passengers_and_fifty_greedy_drivers_never_double_book():
    # given 50 drivers online around one pickup and 200 passengers
    drivers = []
    for i in range(DRIVERS):
        driver = make_driver()
        beacon_set(user=driver, active=True)
        assert location_ingest(user=driver, lat=PICKUP[0] + i * 1e-5, lng=PICKUP[1])
        drivers.append(driver)
    passengers = [make_passenger() for _ in range(PASSENGERS)]
    calls = Calls()

    # when all of them play at once
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        driver_jobs = [pool.submit(drive, group, calls, stop) for group in groups(drivers, DRIVER_THREADS)]
        passenger_jobs = [
            pool.submit(ride_along, group, calls) for group in groups(passengers, THREADS - DRIVER_THREADS)
        ]
        outcomes = Counter(outcome for job in passenger_jobs for outcome in job.result())
        stop.set()
        accepted = sum(job.result() for job in driver_jobs)

    # and the sweeper runs later, when every proposal and confirm window has passed
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        for _ in range(10):
            sweep()
            if not RideRequest.objects.exclude(status__in=TERMINAL).exists():
                break

    # then
    print(f"\ndispatch race: outcomes {dict(outcomes)}, accepts won {accepted}, statuses {dict(calls.statuses)}")
    assert not [code for code in calls.statuses if code >= 500], calls.statuses
    live_matches = Match.objects.filter(holds_driver=True).values("driver").annotate(n=Count("id")).filter(n__gt=1)
    assert list(live_matches) == []
    live_rides = Ride.objects.filter(status__in=LIVE_RIDE_STATUSES)
    assert list(live_rides.values("driver").annotate(n=Count("id")).filter(n__gt=1)) == []
    assert list(Ride.objects.values("passenger").annotate(n=Count("id")).filter(n__gt=1)) == []
    assert (
        list(
            Match.objects.filter(status__in=["accepted", "confirmed"])
            .values("request")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        == []
    )
    assert Counter(RideRequest.objects.values_list("status", flat=True)).keys() <= TERMINAL
    assert RideRequest.objects.count() == PASSENGERS
    assert Ride.objects.count() == RideRequest.objects.filter(status=RequestStatus.CONFIRMED).count() > 0
