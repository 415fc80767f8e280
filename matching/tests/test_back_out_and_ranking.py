"""A driver who backs out of a confirmed ride (cancels before the start) puts the request back into dispatch at once,
without them; it is counted on their profile and in the fair ranking, whose inputs each match records."""

import pytest

from accounts.models import DriverProfile, User
from matching.models import Match, RideRequest
from matching.offer_stats import offer_stats_get
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    proposals_of,
    received,
)
from nebengjek import redis_keys
from nebengjek.redis import get_redis


def accept(client_for, driver):
    response = client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept")
    assert response.status_code == 200, response.content


def confirmed_ride(client_for, passenger, driver):
    request = ask_for_ride(client_for(passenger))
    accept(client_for, driver)
    response = client_for(passenger).post(f"/api/v1/rides/requests/{request['id']}/confirm")
    assert response.status_code == 201, response.content
    return request, response.json()


def test_a_driver_who_backs_out_puts_the_request_back_into_dispatch_without_them(client_for):
    passenger, first, second = make_passenger(), driver_online(100), driver_online(300)
    request, ride = confirmed_ride(client_for, passenger, first)

    response = client_for(first).post(f"/api/v1/rides/{ride['id']}/cancel", {}, format="json")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["cancellation_fee"] is None  # a driver's cancellation costs nobody a fee
    assert RideRequest.objects.get(id=request["id"]).status == "searching"
    assert len(proposals_of(first)) == 1  # never offered it again
    assert len(proposals_of(second)) == 2  # offered at first, taken away, offered again now
    [(_, updated)] = received(passenger, "request.updated")
    assert updated["request"]["status"] == "searching" and updated["request"]["id"] == request["id"]


def test_the_request_backed_out_of_can_be_confirmed_with_another_driver(client_for):
    passenger, first, second = make_passenger(), driver_online(100), driver_online(300)
    request, ride = confirmed_ride(client_for, passenger, first)
    client_for(first).post(f"/api/v1/rides/{ride['id']}/cancel", {}, format="json")

    accept(client_for, second)
    response = client_for(passenger).post(f"/api/v1/rides/requests/{request['id']}/confirm")

    assert response.status_code == 201, response.content
    assert response.json()["driver"]["id"] == str(second.id) and response.json()["id"] != ride["id"]
    assert (
        client_for(passenger).get(f"/api/v1/rides/requests/{request['id']}").json()["ride_id"] == response.json()["id"]
    )


def test_backing_out_with_nobody_else_near_ends_in_no_driver(client_for):
    passenger, only = make_passenger(), driver_online(100)
    request, ride = confirmed_ride(client_for, passenger, only)

    client_for(only).post(f"/api/v1/rides/{ride['id']}/cancel", {}, format="json")

    assert RideRequest.objects.get(id=request["id"]).status == "no_driver"
    assert [p["request"]["status"] for _, p in received(passenger, "request.updated")][-1] == "no_driver"


def test_backing_out_is_counted_on_the_drivers_profile_and_in_the_offer_stats(client_for):
    passenger, driver = make_passenger(), driver_online(100)
    _, ride = confirmed_ride(client_for, passenger, driver)

    client_for(driver).post(f"/api/v1/rides/{ride['id']}/cancel", {}, format="json")

    assert DriverProfile.objects.get(user=driver).cancellations_after_accept == 1
    assert Match.objects.get(driver=driver).status == "backed_out"
    stats = offer_stats_get(driver_ids=[driver.id])[str(driver.id)]
    assert (stats.accepted, stats.declined, stats.backed_out) == (0, 0, 1)


@pytest.fixture
def one_at_a_time(settings):
    settings.MATCHING_BATCH_SIZE = 1
    settings.RANKING_MIN_OFFERS = 2


def given_history(driver, outcomes):
    """The driver's last offers as the ranking's counters hold them (newest first): "a", "n", "b"."""
    key = redis_keys.key(redis_keys.DRIVER_OFFERS, driver_id=driver.id)
    get_redis().delete(key)
    get_redis().rpush(key, *outcomes, "-")


def test_of_two_near_equal_drivers_the_one_who_keeps_backing_out_is_offered_second(client_for, one_at_a_time):
    flaky = driver_online(100)
    steady = driver_online(150)
    given_history(flaky, ["b", "b", "a", "a"])
    given_history(steady, ["a", "a", "n", "a"])

    ask_for_ride(client_for(make_passenger()))

    assert proposals_of(flaky) == [] and len(proposals_of(steady)) == 1


def test_a_much_nearer_driver_comes_first_whatever_their_cancellations(client_for, one_at_a_time):
    flaky = driver_online(100)
    steady = driver_online(100 + 250)  # beyond RATING_TIE_DISTANCE_M
    given_history(flaky, ["b", "b", "b", "b"])
    given_history(steady, ["a", "a", "a", "a"])

    ask_for_ride(client_for(make_passenger()))

    assert len(proposals_of(flaky)) == 1 and proposals_of(steady) == []


def test_each_match_records_its_ranking_inputs_and_the_admin_shows_them(client, client_for, one_at_a_time):
    steady = driver_online(150)
    given_history(driver_online(100), ["b", "b", "a"])
    given_history(steady, ["a", "n", "a", "a"])
    ask_for_ride(client_for(make_passenger()))

    match = Match.objects.get(driver=steady)

    assert match.ranking["offers"] == 4 and match.ranking["acceptance_rate"] == 0.75
    assert match.ranking["cancellation_rate"] == 0.0 and match.ranking["distance_m"] == 150.0
    assert set(match.ranking["weights"]) == {"rating", "acceptance", "cancellation", "tie_distance_m"}
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))
    page = client.get(f"/admin/matching/match/{match.id}/change/")
    assert page.status_code == 200 and b"acceptance rate 0.75" in page.content


def test_the_offer_counters_are_rebuilt_from_the_matches_when_redis_lost_them(client_for, one_at_a_time):
    passenger, driver = make_passenger(), driver_online(100)
    _, ride = confirmed_ride(client_for, passenger, driver)
    client_for(driver).post(f"/api/v1/rides/{ride['id']}/cancel", {}, format="json")
    get_redis().delete(redis_keys.key(redis_keys.DRIVER_OFFERS, driver_id=driver.id))

    stats = offer_stats_get(driver_ids=[driver.id])[str(driver.id)]

    assert (stats.offers, stats.backed_out) == (1, 1)
    assert get_redis().lrange(redis_keys.key(redis_keys.DRIVER_OFFERS, driver_id=driver.id), 0, -1) == ["b", "-"]


def test_accepting_and_rejecting_are_counted_as_they_happen(client_for, one_at_a_time):
    driver = driver_online(100)
    given_history(driver, [])
    ask_for_ride(client_for(make_passenger()))
    client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/reject")

    stats = offer_stats_get(driver_ids=[driver.id])[str(driver.id)]

    assert (stats.accepted, stats.declined) == (0, 1)
