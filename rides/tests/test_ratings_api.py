"""POST /api/v1/rides/{id}/rating and the rating users carry in /me (docs/rides.md "Ratings")."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from rides.models import Rating
from rides.tests.factories import make_confirmed_ride, make_in_progress_ride
from rides.tests.ratings_helpers import given_ratings, make_completed_ride, rate, rating_of


@pytest.fixture
def ride():
    return make_completed_ride()


def test_after_a_ride_ended_through_the_api_both_sides_rate_each_other(scene):
    scene.started_at_pickup()
    assert scene.end().status_code == 200

    assert rate(scene.passenger, scene.ride, 5).status_code == 201
    assert rate(scene.driver, scene.ride, 4).status_code == 201

    assert rating_of(scene.driver) == {"average": 5.0, "count": 1}
    assert rating_of(scene.passenger) == {"average": 4.0, "count": 1}


def test_the_201_answers_the_rating_itself(client_for, ride):
    response = rate(client_for(ride.passenger), ride, 4, comment="Smooth ride", tags=["on_time", "friendly"])

    assert response.status_code == 201
    body = response.json()
    assert body["ride_id"] == str(ride.id) and body["rated_user_id"] == str(ride.driver_id)
    assert body["rater_side"] == "passenger" and body["stars"] == 4
    assert body["comment"] == "Smooth ride" and body["tags"] == ["on_time", "friendly"]
    assert Rating.objects.filter(id=body["id"]).exists()


def test_a_user_without_ratings_shows_null_not_zero(client_for):
    assert rating_of(client_for(make_driver())) is None


def test_the_average_is_rounded_to_two_decimals(client_for):
    driver = given_ratings(make_driver(), 5, 5, 4)

    assert rating_of(client_for(driver)) == {"average": 4.67, "count": 3}


def test_a_second_rating_by_the_same_side_is_409_already_rated_and_the_first_stands(client_for, ride):
    passenger = client_for(ride.passenger)
    rate(passenger, ride, 5)

    response = rate(passenger, ride, 1)

    assert response.status_code == 409 and response.json()["error"]["code"] == "already_rated"
    assert rating_of(client_for(ride.driver)) == {"average": 5.0, "count": 1}


def test_one_side_having_rated_does_not_stop_the_other(client_for, ride):
    rate(client_for(ride.passenger), ride, 5)

    assert rate(client_for(ride.driver), ride, 5).status_code == 201


@pytest.mark.parametrize("stranger", [make_passenger, make_driver], ids=["passenger", "driver"])
def test_rating_someone_elses_ride_is_404_and_stores_nothing(client_for, ride, stranger):
    response = rate(client_for(stranger()), ride, 1)

    assert response.status_code == 404 and response.json()["error"]["code"] == "ride_not_found"
    assert not Rating.objects.exists()


def test_rating_an_unknown_ride_is_404(client_for):
    response = client_for(make_passenger()).post(
        "/api/v1/rides/00000000-0000-0000-0000-000000000000/rating", {"stars": 5}, format="json"
    )

    assert response.status_code == 404


def test_rating_needs_a_signed_in_user(api_client, ride):
    assert rate(api_client, ride, 5).status_code == 401


@pytest.mark.parametrize("make_ride", [make_confirmed_ride, make_in_progress_ride], ids=["en_route", "in_progress"])
def test_a_ride_not_completed_cannot_be_rated_409_invalid_ride_state(client_for, make_ride):
    ride = make_ride()

    response = rate(client_for(ride.passenger), ride, 5)

    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_ride_state"
    assert not Rating.objects.exists()


def test_a_cancelled_ride_cannot_be_rated(scene):
    assert scene.passenger.post(f"{scene.url}/cancel", {}, format="json").status_code == 200

    response = rate(scene.driver, scene.ride, 1)

    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_ride_state"


def test_a_ride_can_be_rated_until_seven_days_after_it_ended(client_for):
    ride = make_completed_ride(ended_at=timezone.now() - timedelta(days=7))

    with time_machine.travel(ride.ended_at + timedelta(days=7), tick=False):
        response = rate(client_for(ride.passenger), ride, 5)

    assert response.status_code == 201


def test_later_than_seven_days_after_the_end_is_409_rating_window_closed(client_for):
    ride = make_completed_ride(ended_at=timezone.now() - timedelta(days=8))

    response = rate(client_for(ride.passenger), ride, 5)

    assert response.status_code == 409 and response.json()["error"]["code"] == "rating_window_closed"
    assert not Rating.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"stars": 0}, {"stars": 6}, {"stars": 4.5}, {"stars": "five"}, {"stars": None}, {"stars": True}],
    ids=["missing", "zero", "six", "fraction", "text", "null", "bool"],
)
def test_stars_must_be_a_whole_number_from_1_to_5(client_for, ride, body):
    response = client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/rating", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "stars" in error["details"]
    assert not Rating.objects.exists()


def test_a_comment_may_have_500_characters(client_for, ride):
    assert rate(client_for(ride.passenger), ride, 5, comment="x" * 500).status_code == 201


def test_a_comment_over_500_characters_is_400_naming_comment(client_for, ride):
    response = rate(client_for(ride.passenger), ride, 5, comment="x" * 501)

    assert response.status_code == 400 and "comment" in response.json()["error"]["details"]


def test_an_unknown_tag_is_400_naming_tags_and_listing_the_allowed_ones(client_for, ride):
    response = rate(client_for(ride.passenger), ride, 5, tags=["on_time", "smelly_car_lol"])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "tags" in error["details"] and "on_time" in error["details"]["allowed"]
    assert not Rating.objects.exists()


def test_tags_are_those_for_the_side_being_rated(client_for, ride):
    response = rate(client_for(ride.driver), ride, 5, tags=["clean_vehicle"])  # a passenger has no vehicle

    assert response.status_code == 400 and "tags" in response.json()["error"]["details"]


def test_repeated_tags_are_kept_once(client_for, ride):
    response = rate(client_for(ride.driver), ride, 5, tags=["clear_pickup", "friendly", "clear_pickup"])

    assert response.json()["tags"] == ["clear_pickup", "friendly"]


def test_the_average_is_over_the_last_100_ratings_and_the_count_is_all_time(client_for):
    driver, passenger = make_driver(), make_passenger()
    rides = [make_completed_ride(driver=driver, passenger=passenger) for _ in range(101)]
    rider, shown = client_for(passenger), client_for(driver)
    rate(rider, rides[0], 1)  # the oldest, the only one that differs
    for ride in rides[1:100]:
        assert rate(rider, ride, 5).status_code == 201
    assert rating_of(shown) == {"average": 4.96, "count": 100}  # (1 + 99 * 5) / 100

    rate(rider, rides[100], 5)

    assert rating_of(shown) == {"average": 5.0, "count": 101}  # the 1 star has left the window


def test_a_passengers_rating_comes_from_what_drivers_gave(client_for):
    passenger = given_ratings(make_passenger(), 3, 4)

    assert rating_of(client_for(passenger)) == {"average": 3.5, "count": 2}
