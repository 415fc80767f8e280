"""Real races against PostgreSQL: threads with their own connections hitting the REST API at the same instant."""

import pytest
from django.conf import settings

from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    received,
    request_body,
)
from tests.reliability.parallel import at_once

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serializes all writers",
    ),
]
ROUNDS = 30


def test_two_drivers_accepting_the_same_request_at_once_exactly_one_wins_every_time(client_for):
    first, second = driver_online(300), driver_online(400)
    drivers = [client_for(first), client_for(second)]

    for _ in range(ROUNDS):
        passenger = make_passenger()
        client = client_for(passenger)
        request = ask_for_ride(client)
        match_ids = [last_proposal(first)["id"], last_proposal(second)["id"]]

        responses = at_once(
            *[lambda d=d, m=m: d.post(f"/api/v1/matches/{m}/accept") for d, m in zip(drivers, match_ids, strict=True)]
        )

        assert sorted(r.status_code for r in responses) == [200, 409]
        assert [r.json()["error"]["code"] for r in responses if r.status_code == 409] == ["match_not_pending"]
        statuses = sorted(Match.objects.filter(request_id=request["id"]).values_list("status", flat=True))
        assert statuses == [MatchStatus.ACCEPTED, MatchStatus.CANCELLED]
        assert len(received(passenger, "match.accepted")) == 1
        assert client.post(f"/api/v1/rides/requests/{request['id']}/cancel").status_code == 200


def test_a_driver_wanted_by_two_requests_dispatched_at_once_never_holds_two_proposals(client_for):
    driver = driver_online(300)

    for _ in range(ROUNDS):
        clients = [client_for(make_passenger()), client_for(make_passenger())]

        responses = at_once(
            *[lambda c=c: c.post("/api/v1/rides/requests", request_body(), format="json") for c in clients]
        )

        assert [r.status_code for r in responses] == [201, 201]
        assert Match.objects.filter(driver=driver, holds_driver=True).count() == 1
        request_ids = [r.json()["id"] for r in responses]
        offered = Match.objects.filter(driver=driver, request_id__in=request_ids).count()
        assert offered == 1
        for client, request_id in zip(clients, request_ids, strict=True):
            client.post(f"/api/v1/rides/requests/{request_id}/cancel")  # no_driver answers 409: fine
        assert not Match.objects.filter(driver=driver, holds_driver=True).exists()


def test_one_passenger_posting_two_requests_at_once_gets_one(client_for):
    driver_online(300)

    for _ in range(ROUNDS // 3):
        client = client_for(make_passenger())

        responses = at_once(
            *[lambda client=client: client.post("/api/v1/rides/requests", request_body(), format="json")] * 2
        )

        assert sorted(r.status_code for r in responses) == [201, 409]
        assert RideRequest.objects.filter(passenger=client.user, is_open=True).count() == 1
        created = next(r.json()["id"] for r in responses if r.status_code == 201)
        client.post(f"/api/v1/rides/requests/{created}/cancel")


def test_accept_racing_the_passengers_cancel_ends_consistent(client_for):
    driver = driver_online(300)
    driver_client = client_for(driver)

    for _ in range(ROUNDS // 3):
        client = client_for(make_passenger())
        request = ask_for_ride(client)
        match_id = last_proposal(driver)["id"]

        accept, cancel = at_once(
            lambda match_id=match_id: driver_client.post(f"/api/v1/matches/{match_id}/accept"),
            lambda client=client, request=request: client.post(f"/api/v1/rides/requests/{request['id']}/cancel"),
        )

        assert cancel.status_code == 200 and accept.status_code in (200, 409)
        assert RideRequest.objects.get(id=request["id"]).status == RequestStatus.CANCELLED
        assert not Match.objects.filter(driver=driver, holds_driver=True).exists()
