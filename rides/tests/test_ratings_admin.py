"""Operators: the ratings list, and hiding an abusive comment (its stars still count)."""

import pytest

from accounts.models import User
from rides.models import Rating
from rides.tests.ratings_helpers import make_completed_ride, rate, rating_of

CHANGELIST = "/admin/rides/rating/"


@pytest.fixture
def operator_client(client):
    client.force_login(User.objects.create_superuser("+628121111112", password="operator-pass-1"))
    return client


@pytest.fixture
def abusive(client_for):
    """A driver rated 5 stars (polite) and 1 star with an abusive comment."""
    ride = make_completed_ride()
    rate(client_for(ride.passenger), ride, 5, comment="Lovely trip")
    second = make_completed_ride(driver=ride.driver)
    rate(client_for(second.passenger), second, 1, comment="ABUSIVE WORDS HERE")
    return Rating.objects.get(comment="ABUSIVE WORDS HERE")


def hide(operator_client, *ratings):
    return operator_client.post(CHANGELIST, {"action": "hide_comments", "_selected_action": [r.pk for r in ratings]})


def test_operators_see_the_ratings_with_their_comments(operator_client, abusive):
    page = operator_client.get(CHANGELIST)

    assert page.status_code == 200
    assert "ABUSIVE WORDS HERE" in page.content.decode() and "Lovely trip" in page.content.decode()


def test_operators_find_the_ratings_a_user_received_by_number(operator_client, abusive):
    page = operator_client.get(CHANGELIST, {"q": abusive.ratee.msisdn})

    assert "ABUSIVE WORDS HERE" in page.content.decode()


def test_hiding_a_comment_marks_it_hidden_by_the_operator(operator_client, abusive):
    response = hide(operator_client, abusive)

    assert response.status_code == 302
    abusive.refresh_from_db()
    assert abusive.comment_hidden_at is not None and abusive.comment_hidden_by.msisdn == "+628121111112"


def test_a_hidden_comments_stars_still_count(client_for, operator_client, abusive):
    hide(operator_client, abusive)

    assert rating_of(client_for(abusive.ratee)) == {"average": 3.0, "count": 2}


def test_a_hidden_comments_stars_stay_in_the_window_for_later_ratings(client_for, operator_client, abusive):
    hide(operator_client, abusive)
    ride = make_completed_ride(driver=abusive.ratee)

    rate(client_for(ride.passenger), ride, 3)

    assert rating_of(client_for(abusive.ratee)) == {"average": 3.0, "count": 3}  # (5 + 1 + 3) / 3


def test_ratings_cannot_be_added_or_deleted_in_the_admin(operator_client, abusive):
    assert operator_client.get(f"{CHANGELIST}add/").status_code == 403
    assert operator_client.get(f"{CHANGELIST}{abusive.pk}/delete/").status_code == 403
