"""The matching invariants hold in the database itself, not only in the services' locks."""

import pytest
from django.db import IntegrityError, transaction

from matching.models import Match, MatchStatus
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
)


@pytest.fixture
def request_with_two_proposals(client_for):
    first, second = driver_online(300), driver_online(400)
    request = ask_for_ride(client_for(make_passenger()))
    return request, client_for(first), last_proposal(first)["id"], last_proposal(second)["id"]


@pytest.mark.parametrize("winner_status", [MatchStatus.ACCEPTED, MatchStatus.CONFIRMED])
def test_a_second_accepted_match_for_one_request_is_refused_by_the_database(request_with_two_proposals, winner_status):
    _, winner, winner_match, other_match = request_with_two_proposals
    assert winner.post(f"/api/v1/matches/{winner_match}/accept").status_code == 200
    Match.objects.filter(pk=winner_match).update(status=winner_status)

    # a write past the services' request lock, as a buggy path or a manual fix could make it
    with pytest.raises(IntegrityError), transaction.atomic():
        Match.objects.filter(pk=other_match).update(status=MatchStatus.ACCEPTED, holds_driver=True)

    assert Match.objects.filter(pk=other_match).values_list("status", flat=True).get() == MatchStatus.CANCELLED


def test_matches_that_ended_do_not_count_against_the_one_accepted(request_with_two_proposals):
    _, winner, winner_match, other_match = request_with_two_proposals
    assert winner.post(f"/api/v1/matches/{winner_match}/accept").status_code == 200

    Match.objects.filter(pk=winner_match).update(status=MatchStatus.EXPIRED, holds_driver=False)
    Match.objects.filter(pk=other_match).update(status=MatchStatus.ACCEPTED, holds_driver=True)

    assert Match.objects.filter(pk=other_match).values_list("status", flat=True).get() == MatchStatus.ACCEPTED
