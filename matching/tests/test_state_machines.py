"""The request's and the match's state machines are data (matching.services.REQUEST_TRANSITIONS, MATCH_TRANSITIONS):
an allowed move passes, a refused one is the 409 the API answers."""

import pytest

from matching.models import MatchStatus, RequestStatus, RideRequest
from matching.services import (
    MATCH_TRANSITIONS,
    REQUEST_TRANSITIONS,
    Actor,
    match_transition_check,
    request_transition_allowed,
    request_transition_check,
)
from nebengjek.errors import DomainError


def refusal(check, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as raised:
        check(**kwargs)
    return raised.value


def test_the_passenger_may_confirm_a_request_with_an_accepted_driver():
    request_transition_check(
        request=RideRequest(status=RequestStatus.DRIVER_FOUND), to=RequestStatus.CONFIRMED, actor=Actor.PASSENGER
    )


def test_confirming_a_searching_request_is_409_request_not_confirmable():
    error = refusal(
        request_transition_check,
        request=RideRequest(status=RequestStatus.SEARCHING),
        to=RequestStatus.CONFIRMED,
        actor=Actor.PASSENGER,
    )
    assert (error.code, error.status) == ("request_not_confirmable", 409)
    assert error.details == {"status": "searching"}


def test_the_driver_cannot_confirm_for_the_passenger():
    error = refusal(
        request_transition_check,
        request=RideRequest(status=RequestStatus.DRIVER_FOUND),
        to=RequestStatus.CONFIRMED,
        actor=Actor.DRIVER,
    )
    assert error.code == "request_not_confirmable"


def test_the_passenger_may_cancel_a_searching_request_but_not_one_that_found_no_driver():
    request_transition_check(
        request=RideRequest(status=RequestStatus.SEARCHING), to=RequestStatus.CANCELLED, actor=Actor.PASSENGER
    )
    error = refusal(
        request_transition_check,
        request=RideRequest(status=RequestStatus.NO_DRIVER),
        to=RequestStatus.CANCELLED,
        actor=Actor.PASSENGER,
    )
    assert (error.code, error.status) == ("request_not_cancellable", 409)
    assert error.message == "This request is already closed: no driver was found."


def test_only_the_system_expires_an_unconfirmed_request():
    assert request_transition_allowed(status=RequestStatus.DRIVER_FOUND, to=RequestStatus.EXPIRED, actor=Actor.SYSTEM)
    assert not request_transition_allowed(
        status=RequestStatus.DRIVER_FOUND, to=RequestStatus.EXPIRED, actor=Actor.PASSENGER
    )


def test_a_driver_may_accept_a_pending_match_but_not_an_accepted_one():
    match_transition_check(status=MatchStatus.PENDING, to=MatchStatus.ACCEPTED, actor=Actor.DRIVER)
    error = refusal(match_transition_check, status=MatchStatus.ACCEPTED, to=MatchStatus.ACCEPTED, actor=Actor.DRIVER)
    assert (error.code, error.status) == ("match_not_pending", 409)


def test_a_driver_cannot_confirm_their_own_match():
    error = refusal(match_transition_check, status=MatchStatus.ACCEPTED, to=MatchStatus.CONFIRMED, actor=Actor.DRIVER)
    assert error.code == "match_not_pending"


def test_no_move_leaves_a_final_status():
    final_requests = {RequestStatus.NO_DRIVER, RequestStatus.EXPIRED, RequestStatus.CANCELLED}
    final_matches = {MatchStatus.REJECTED, MatchStatus.EXPIRED, MatchStatus.CANCELLED, MatchStatus.BACKED_OUT}
    assert not [move for move in REQUEST_TRANSITIONS if move[0] in final_requests]
    assert not [move for move in MATCH_TRANSITIONS if move[0] in final_matches]


def test_a_confirmed_match_only_ends_by_its_driver_backing_out_before_the_start():
    assert {move: actors for move, actors in MATCH_TRANSITIONS.items() if move[0] == MatchStatus.CONFIRMED} == {
        (MatchStatus.CONFIRMED, MatchStatus.BACKED_OUT): {Actor.DRIVER}
    }
    assert REQUEST_TRANSITIONS[(RequestStatus.CONFIRMED, RequestStatus.SEARCHING)] == {Actor.DRIVER}
