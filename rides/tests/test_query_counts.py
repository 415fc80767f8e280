"""Each write path of a whole ride costs a pinned number of database queries (issue 22): request, accept (REST and
socket), confirm, start, the meter's batch of positions, end, receipt, rating, settlement. A change that adds a
query to a path fails here; lower the pin when a change removes one."""
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.tasks import settle_ride
from locations.services import location_ingest
from matching.tests.conftest import next_of_type
from matching.tests.helpers import ask_for_ride, driver_online, last_proposal, make_passenger, request_body
from rides.tasks import track_ingest

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)

# The pins: queries each path may make (PostgreSQL and SQLite alike).
MAX_QUERIES = {
    "request": 99,
    "accept": 99,
    "confirm": 99,
    "start": 99,
    "meter": 99,
    "end": 99,
    "receipt": 99,
    "rating": 99,
    "settlement": 99,
}


class Counted:
    def __init__(self):
        self.counts = {}

    def __call__(self, name, function, *args, **kwargs):
        with CaptureQueriesContext(connection) as captured:
            result = function(*args, **kwargs)
        self.counts[name] = len(captured.captured_queries)
        print(name, len(captured.captured_queries))
        for q in captured.captured_queries:
            print("   ", q["sql"][:300])
        return result


def test_each_write_path_of_a_whole_ride_stays_within_its_query_budget(client_for, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # settlement is counted on its own, below
    counted = Counted()
    with time_machine.travel(T0, tick=False) as clock:
        driver_user = driver_online(50)
        passenger_user = make_passenger()
        passenger, driver = client_for(passenger_user), client_for(driver_user)
        request = counted("request", passenger.post, "/api/v1/rides/requests", request_body(), format="json")
        assert request.status_code == 201
        request = request.json()
        match_id = last_proposal(driver_user)["id"]
        assert counted("accept", driver.post, f"/api/v1/matches/{match_id}/accept").status_code == 200
        confirm = counted("confirm", passenger.post, f"/api/v1/rides/requests/{request['id']}/confirm")
        ride_id = confirm.json()["id"]
        assert counted("start", driver.post, f"/api/v1/rides/{ride_id}/start").status_code == 200
        for step in range(1, 4):
            clock.move_to(T0 + timedelta(seconds=10 * step))
            location_ingest(user=driver_user, lat=-6.2 - 0.001 * step, lng=106.8)
        counted("meter", track_ingest.apply)
        assert counted("end", driver.post, f"/api/v1/rides/{ride_id}/end", {}, format="json").status_code == 200
        assert counted("receipt", passenger.get, f"/api/v1/rides/{ride_id}/receipt").status_code == 200
        rating = counted("rating", passenger.post, f"/api/v1/rides/{ride_id}/rating", {"stars": 5}, format="json")
        assert rating.status_code == 201
        counted("settlement", settle_ride.apply, args=(ride_id,))
    print(counted.counts)
    assert 0
