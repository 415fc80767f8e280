"""A request, a proposal and a match are shaped by plain functions (matching.serializers) for speed: each must equal
what its serializer's declared fields build, to the JSON type of each value, before and after the driver accepts."""

import json

from rest_framework import serializers

from accounts.services import user_rating_set
from matching.models import Match, RideRequest
from matching.serializers import MatchOutputSerializer, ProposalOutputSerializer, RideRequestOutputSerializer
from matching.tests.helpers import ask_for_ride, driver_online, last_proposal, make_passenger


def _same(serializer_class, instance, context):
    written_out = serializer_class(instance, context=context).data
    by_fields = serializers.Serializer.to_representation(serializer_class(instance, context=context), instance)
    assert json.dumps(written_out, sort_keys=True) == json.dumps(by_fields, sort_keys=True)
    return written_out


def _loaded(request_id, match_id):
    request = RideRequest.objects.select_related("passenger").get(pk=request_id)
    match = Match.objects.select_related("driver__driver_profile", "request__passenger").get(pk=match_id)
    return request, match


def _asked(client_for):
    driver = driver_online(50)
    passenger = make_passenger()
    user_rating_set(user_id=passenger.pk, average=4.5, count=2)  # a rated passenger: the rating is shaped too
    client = client_for(passenger)
    request_id = ask_for_ride(client)["id"]
    return client, driver, request_id, last_proposal(driver)["id"]


def test_a_proposal_and_its_request_are_shaped_as_their_serializers_fields_shape_them(client_for):
    _, _, request_id, match_id = _asked(client_for)
    request, match = _loaded(request_id, match_id)

    proposal = _same(ProposalOutputSerializer, match, {"ride_request": request})
    _same(ProposalOutputSerializer, match, {})
    shaped_request = _same(RideRequestOutputSerializer, request, {"match": None, "ride_id": None})

    assert proposal["passenger"]["rating"] == {"average": 4.5, "count": 2}
    assert shaped_request["match"] is None


def test_an_accepted_and_a_confirmed_match_are_shaped_as_their_serializers_fields_shape_them(client_for):
    passenger, driver, request_id, match_id = _asked(client_for)
    client_for(driver).post(f"/api/v1/matches/{match_id}/accept")
    request, match = _loaded(request_id, match_id)
    accepted = _same(MatchOutputSerializer, match, {"ride_request": request})
    _same(RideRequestOutputSerializer, request, {"match": match, "ride_id": None})

    ride_id = passenger.post(f"/api/v1/rides/requests/{request_id}/confirm").json()["id"]
    request, match = _loaded(request_id, match_id)
    _same(MatchOutputSerializer, match, {})
    confirmed = _same(RideRequestOutputSerializer, request, {"match": match, "ride_id": ride_id})

    assert accepted["confirm_expires_at"] is not None
    assert confirmed["ride_id"] == ride_id
