"""Each write path of a whole ride costs at most a pinned number of database queries (issue 22), counted through the
REST surface and the meter's task: request, accept, confirm, start, the meter's batch of positions on a ride, end,
receipt, rating, settlement. A change that adds a query to a path fails here; lower the pin when one is removed.
The pins hold on PostgreSQL and on SQLite (which takes one or two more on some paths: no one-statement event store,
savepoints for get_or_create)."""

from datetime import UTC, datetime, timedelta

import time_machine

from billing.tasks import settle_ride
from locations.services import location_ingest
from matching.tests.helpers import driver_online, last_proposal, make_passenger, request_body
from nebengjek.celery import app as celery_app
from products.selectors import product_catalog
from rides.tasks import track_ingest

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)

MAX_QUERIES = {
    "request": 11,
    "accept": 12,
    "confirm": 10,
    "start": 9,
    "meter": 5,
    "end": 12,
    "receipt": 3,
    "rating": 8,
    "settlement": 15,
}


def test_each_write_path_of_a_whole_ride_stays_within_its_query_budget(
    client_for, monkeypatch, django_assert_max_num_queries
):
    # Tasks go to the broker, as in production: the dispatch and confirm timers do not run inside the counted calls,
    # and the settlement is counted on its own, last.
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    with time_machine.travel(T0, tick=False) as clock:
        driver_user = driver_online(50)
        passenger, driver = client_for(make_passenger()), client_for(driver_user)
        product_catalog()  # the products are read once per process (cached), not per request

        with django_assert_max_num_queries(MAX_QUERIES["request"]):
            request = passenger.post("/api/v1/rides/requests", request_body(), format="json")
        match_id = last_proposal(driver_user)["id"]
        with django_assert_max_num_queries(MAX_QUERIES["accept"]):
            accepted = driver.post(f"/api/v1/matches/{match_id}/accept")
        with django_assert_max_num_queries(MAX_QUERIES["confirm"]):
            confirmed = passenger.post(f"/api/v1/rides/requests/{request.json()['id']}/confirm")
        ride_id = confirmed.json()["id"]
        with django_assert_max_num_queries(MAX_QUERIES["start"]):
            started = driver.post(f"/api/v1/rides/{ride_id}/start")
        for step in range(1, 4):
            clock.move_to(T0 + timedelta(seconds=10 * step))
            assert location_ingest(user=driver_user, lat=-6.2 - 0.001 * step, lng=106.8)
        with django_assert_max_num_queries(MAX_QUERIES["meter"]):
            track_ingest.apply()
        with django_assert_max_num_queries(MAX_QUERIES["end"]):
            ended = driver.post(f"/api/v1/rides/{ride_id}/end", {}, format="json")
        with django_assert_max_num_queries(MAX_QUERIES["receipt"]):
            receipt = passenger.get(f"/api/v1/rides/{ride_id}/receipt")
        with django_assert_max_num_queries(MAX_QUERIES["rating"]):
            rated = passenger.post(f"/api/v1/rides/{ride_id}/rating", {"stars": 5}, format="json")
        with django_assert_max_num_queries(MAX_QUERIES["settlement"]):
            settle_ride.apply(args=(ride_id,))
        settled = passenger.get(f"/api/v1/rides/{ride_id}/receipt").json()

    assert [response.status_code for response in (request, accepted, confirmed, started, ended, receipt, rated)] == [
        201,
        200,
        201,
        200,
        200,
        200,
        201,
    ]
    assert ended.json()["distance_m"] > 300  # the meter's three points counted
    assert settled["settled_at"] is not None
