"""Ratings arriving at the same instant, against PostgreSQL: the aggregate counts every one, and two people rating
each other at once do not deadlock."""

import pytest
from django.conf import settings

from accounts.tests.factories import make_driver
from rides.models import Rating
from rides.tests.ratings_helpers import make_completed_ride, rate, rating_of
from tests.reliability.parallel import at_once

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serializes all writers",
    ),
]


def test_ratings_of_one_driver_at_the_same_instant_all_count(client_for):
    driver = make_driver()
    rides = [make_completed_ride(driver=driver) for _ in range(8)]
    clients = [client_for(ride.passenger) for ride in rides]
    stars = [1, 2, 3, 4, 5, 5, 5, 5]

    responses = at_once(*[lambda c=c, r=r, s=s: rate(c, r, s) for c, r, s in zip(clients, rides, stars, strict=True)])

    assert [response.status_code for response in responses] == [201] * 8
    assert rating_of(client_for(driver)) == {"average": 3.75, "count": 8}
    assert sorted(Rating.objects.filter(ratee=driver).values_list("ratee_seq", flat=True)) == list(range(1, 9))


def test_two_people_rating_each_other_at_the_same_instant_both_succeed(client_for):
    for _ in range(10):
        ride = make_completed_ride()
        passenger, driver = client_for(ride.passenger), client_for(ride.driver)

        responses = at_once(
            lambda passenger=passenger, ride=ride: rate(passenger, ride, 5),
            lambda driver=driver, ride=ride: rate(driver, ride, 4),
        )

        assert [response.status_code for response in responses] == [201, 201]


def test_the_same_side_twice_at_the_same_instant_is_stored_once(client_for):
    ride = make_completed_ride()
    passenger = client_for(ride.passenger)

    responses = at_once(lambda: rate(passenger, ride, 5), lambda: rate(passenger, ride, 1))

    assert sorted(response.status_code for response in responses) == [201, 409]
    assert rating_of(client_for(ride.driver))["count"] == 1
