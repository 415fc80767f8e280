"""Ratings where people decide: the passenger's in the driver's proposal, the driver's in the passenger's
match.accepted; dispatch prefers the better-rated among near-equal drivers and skips those under the floor."""

import pytest

from matching.models import Match, RideRequest
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    proposals_of,
    received,
)
from rides.tests.ratings_helpers import given_ratings


def first_offered(request_id):
    return Match.objects.filter(request_id=request_id, batch_no=1).get().driver_id


def test_the_drivers_proposal_carries_the_passengers_rating(client_for):
    driver = driver_online(300)
    passenger = given_ratings(make_passenger(), 5, 4)

    ask_for_ride(client_for(passenger))

    assert last_proposal(driver)["passenger"]["rating"] == {"average": 4.5, "count": 2}


def test_a_new_passengers_rating_is_null_in_the_proposal(client_for):
    driver = driver_online(300)

    ask_for_ride(client_for(make_passenger()))

    assert last_proposal(driver)["passenger"]["rating"] is None


def test_the_passengers_match_accepted_carries_the_drivers_rating(client_for):
    driver = given_ratings(driver_online(300), 5, 5, 4)
    passenger = make_passenger()
    ask_for_ride(client_for(passenger))

    response = client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept", format="json")

    assert response.status_code == 200, response.content
    [(_, accepted)] = received(passenger, "match.accepted")
    assert accepted["match"]["driver"]["rating"] == {"average": 4.67, "count": 3}


@pytest.fixture
def one_at_a_time(settings):
    settings.MATCHING_BATCH_SIZE = 1


def test_of_two_nearly_equidistant_drivers_the_better_rated_gets_the_first_proposal(client_for, one_at_a_time):
    nearer = given_ratings(driver_online(300), 3, 3)
    better = given_ratings(driver_online(310), 5, 5)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == better.id
    assert proposals_of(nearer) == []


def test_the_better_rated_wins_whichever_of_the_two_is_nearer(client_for, one_at_a_time):
    better = given_ratings(driver_online(300), 5)
    given_ratings(driver_online(310), 3)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == better.id


def test_a_much_nearer_driver_comes_first_whatever_the_ratings(client_for, one_at_a_time):
    nearer = given_ratings(driver_online(300), 3)
    given_ratings(driver_online(300 + 250), 5)  # beyond RATING_TIE_DISTANCE_M (200 m)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == nearer.id


def test_the_tie_distance_is_a_setting(client_for, one_at_a_time, settings):
    settings.RATING_TIE_DISTANCE_M = 300
    given_ratings(driver_online(300), 3)
    better = given_ratings(driver_online(300 + 250), 5)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == better.id


def test_an_unrated_driver_ranks_below_a_well_rated_one(client_for, one_at_a_time):
    driver_online(300)
    good = given_ratings(driver_online(310), 5)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == good.id


def test_an_unrated_driver_ranks_above_a_poorly_rated_one(client_for, one_at_a_time):
    given_ratings(driver_online(300), 3)
    new = driver_online(310)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == new.id


@pytest.fixture
def floor_4(settings):
    settings.RATING_FLOOR = 4.0
    settings.RATING_FLOOR_MIN_COUNT = 2


def test_a_driver_under_the_rating_floor_is_not_offered_rides(client_for, floor_4):
    under = given_ratings(driver_online(100), 3, 4)  # 3.5
    above = given_ratings(driver_online(900), 4, 4)

    request = ask_for_ride(client_for(make_passenger()))

    assert proposals_of(under) == []
    assert first_offered(request["id"]) == above.id


def test_the_floor_waits_for_enough_ratings(client_for, floor_4):
    new = given_ratings(driver_online(100), 1)  # one bad first ride: under RATING_FLOOR_MIN_COUNT

    ask_for_ride(client_for(make_passenger()))

    assert len(proposals_of(new)) == 1


def test_without_a_floor_a_poorly_rated_driver_is_still_offered_rides(client_for, settings):
    settings.RATING_FLOOR_MIN_COUNT = 1
    poor = given_ratings(driver_online(100), 1, 1)

    ask_for_ride(client_for(make_passenger()))

    assert len(proposals_of(poor)) == 1


def test_dispatch_looks_past_drivers_under_the_floor_to_a_good_one_further_away(client_for, floor_4, settings):
    settings.MATCHING_BATCH_SIZE, settings.MATCHING_CANDIDATE_SLACK = 1, 0  # one candidate fetched at a time
    for metres in (100, 400):
        given_ratings(driver_online(metres), 2, 2)
    good = given_ratings(driver_online(800), 5, 5)

    request = ask_for_ride(client_for(make_passenger()))

    assert first_offered(request["id"]) == good.id
    assert RideRequest.objects.get(id=request["id"]).radius_m == 1000  # in the first batch, not a wider one
