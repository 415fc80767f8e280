"""What matching pushes; the payloads are matching.serializers' output shapes, the same as the REST answers.

To a driver: `match.proposal`, then `match.cancelled` / `match.expired` / `match.accepted` / `match.confirmed`.
To the passenger: `match.accepted`, `match.confirmed`, `match.expired` (confirm window passed) and
`request.updated` when the request ends without the passenger's doing (`no_driver`, `expired`).
"""

from matching.serializers import (
    MatchOutcomeOutputSerializer,
    MatchOutputSerializer,
    ProposalOutputSerializer,
    RideRequestOutputSerializer,
)
from nebengjek.realtime import plain, send_event_on_commit, send_events_on_commit
from nebengjek.serializers import event_message_serializer

MATCH_PROPOSAL = "match.proposal"
MATCH_ACCEPTED = "match.accepted"
MATCH_CONFIRMED = "match.confirmed"
MATCH_EXPIRED = "match.expired"
MATCH_CANCELLED = "match.cancelled"
REQUEST_UPDATED = "request.updated"

_ProposalMessage = event_message_serializer("MatchProposalMessage", [MATCH_PROPOSAL], match=ProposalOutputSerializer())
_MatchMessage = event_message_serializer(
    "MatchMessage", [MATCH_ACCEPTED, MATCH_CONFIRMED], match=MatchOutputSerializer()
)
_OutcomeMessage = event_message_serializer(
    "MatchOutcomeMessage", [MATCH_CANCELLED, MATCH_EXPIRED], match=MatchOutcomeOutputSerializer()
)
_RequestMessage = event_message_serializer(
    "RequestUpdatedMessage", [REQUEST_UPDATED], request=RideRequestOutputSerializer()
)
# What each event type carries, for the schema of GET /api/v1/events.
EVENT_MESSAGES = {
    MATCH_PROPOSAL: _ProposalMessage,
    MATCH_ACCEPTED: _MatchMessage,
    MATCH_CONFIRMED: _MatchMessage,
    MATCH_CANCELLED: _OutcomeMessage,
    MATCH_EXPIRED: _OutcomeMessage,
    REQUEST_UPDATED: _RequestMessage,
}


def proposal_payload(match, *, request) -> dict:
    """What a driver sees of a proposal (`request.passenger` loaded)."""
    return plain(ProposalOutputSerializer(match, context={"ride_request": request}).data)


def match_payload(match, *, request) -> dict:
    """A match with both sides (`request.passenger` and `match.driver.driver_profile` loaded)."""
    return plain(MatchOutputSerializer(match, context={"ride_request": request}).data)


def match_outcome_payload(match, *, reason: str) -> dict:
    """A short notice that a proposal is gone: `reason` is taken | expired | confirm_timeout | passenger_cancelled."""
    return plain(MatchOutcomeOutputSerializer(match, context={"reason": reason}).data)


def request_payload(request, *, match=None, ride_id=None) -> dict:
    """The request as its passenger sees it; `match` is the accepted/confirmed one, if any."""
    return plain(RideRequestOutputSerializer(request, context={"match": match, "ride_id": ride_id}).data)


def proposals_send_on_commit(matches, *, request):
    send_events_on_commit(
        [([match.driver_id], MATCH_PROPOSAL, {"match": proposal_payload(match, request=request)}) for match in matches]
    )


def outcomes_send_on_commit(matches, *, type, reason, also_tell=()):
    send_events_on_commit(
        [
            ([match.driver_id, *also_tell], type, {"match": match_outcome_payload(match, reason=reason)})
            for match in matches
        ]
    )


def match_send_on_commit(match, *, request, type, user_ids):
    send_event_on_commit(*match_event(match, request=request, type=type, user_ids=user_ids))


def match_event(match, *, request, type, user_ids) -> tuple[list, str, dict]:
    """The (user_ids, type, payload) of a match event, for a caller that stores it with others in one statement."""
    return list(user_ids), type, {"match": match_payload(match, request=request)}


def request_updated_send_on_commit(request):
    send_event_on_commit([request.passenger_id], REQUEST_UPDATED, {"request": request_payload(request)})
