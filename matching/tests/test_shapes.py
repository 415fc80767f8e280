"""A request and a match look the same in REST answers and in pushes (one output serializer), and building a
push's payload costs no query once the service has loaded what it locked."""

from matching import events, selectors
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    received,
)


def _accepted(client_for):
    driver, passenger = driver_online(50), make_passenger()
    request = ask_for_ride(client_for(passenger))
    proposal = last_proposal(driver)
    assert client_for(driver).post(f"/api/v1/matches/{proposal['id']}/accept").status_code == 200
    return driver, passenger, request, proposal


def test_the_match_pushed_on_accept_is_the_match_of_the_rest_answers(client_for):
    driver, passenger, request, proposal = _accepted(client_for)

    as_driver_reads_it = client_for(driver).get(f"/api/v1/matches/{proposal['id']}").json()
    as_passenger_reads_it = client_for(passenger).get(f"/api/v1/rides/requests/{request['id']}").json()["match"]
    [(_, pushed_to_driver)] = received(driver, "match.accepted")
    [(_, pushed_to_passenger)] = received(passenger, "match.accepted")

    assert pushed_to_driver["match"] == pushed_to_passenger["match"] == as_driver_reads_it == as_passenger_reads_it
    assert {key: as_driver_reads_it[key] for key in proposal if key != "status"} == {
        key: value for key, value in proposal.items() if key != "status"
    }  # a proposal is the match's driver part


def test_the_request_pushed_when_it_ends_is_the_request_of_the_rest_answer(client_for):
    passenger = make_passenger()
    request = ask_for_ride(client_for(passenger))  # nobody online: the request ends no_driver at once

    [(_, pushed)] = received(passenger, "request.updated")

    assert pushed["request"]["status"] == "no_driver"
    assert pushed["request"] == client_for(passenger).get(f"/api/v1/rides/requests/{request['id']}").json()


def test_building_the_match_and_request_payloads_costs_no_query(client_for, django_assert_num_queries):
    driver, passenger, request, proposal = _accepted(client_for)
    match = selectors.match_get_for_driver(match_id=proposal["id"], driver=driver)
    ride_request, current, ride_id = selectors.request_get_for_passenger(request_id=request["id"], passenger=passenger)

    with django_assert_num_queries(0):
        events.proposal_payload(match, request=match.request)
        events.match_payload(match, request=match.request)
        events.match_outcome_payload(match, reason="taken")
        events.request_payload(ride_request, match=current, ride_id=ride_id)
