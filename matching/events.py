"""What matching pushes, and the client shapes of a request and a match (REST answers use the same builders).

To a driver: `match.proposal`, then `match.cancelled` / `match.expired` / `match.accepted` / `match.confirmed`.
To the passenger: `match.accepted`, `match.confirmed`, `match.expired` (confirm window passed) and
`request.updated` when the request ends without the passenger's doing (`no_driver`, `expired`).
"""
from accounts.serializers import rating_payload
from nebengjek.realtime import send_event_on_commit, send_events_on_commit

MATCH_PROPOSAL = "match.proposal"
MATCH_ACCEPTED = "match.accepted"
MATCH_CONFIRMED = "match.confirmed"
MATCH_EXPIRED = "match.expired"
MATCH_CANCELLED = "match.cancelled"
REQUEST_UPDATED = "request.updated"


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def point(lat, lng):
    return {"lat": lat, "lng": lng}


def fare_estimate_payload(request):
    return {"distance_m": request.estimate_distance_m, "amount": request.estimate_amount,
            "surge_multiplier": float(request.surge_multiplier)}


def passenger_payload(user):
    return {"id": str(user.id), "full_name": user.full_name, "rating": rating_payload(user)}


def driver_payload(user):
    profile = getattr(user, "driver_profile", None)
    return {"id": str(user.id), "full_name": user.full_name,
            "vehicle_type": profile.vehicle_type if profile else None,
            "vehicle_plate": profile.vehicle_plate if profile else None, "rating": rating_payload(user)}


def _trip(request):
    return {"pickup": point(request.pickup_lat, request.pickup_lng),
            "destination": point(request.destination_lat, request.destination_lng),
            "fare_estimate": fare_estimate_payload(request), "payment_method": request.payment_method}


def proposal_payload(match, *, request):
    """What a driver sees of a proposal (`request.passenger` loaded)."""
    return {"id": str(match.id), "request_id": str(request.id), "status": match.status, "batch_no": match.batch_no,
            "passenger": passenger_payload(request.passenger), **_trip(request),
            "distance_to_pickup_m": match.distance_to_pickup_m, "expires_at": iso(match.expires_at)}


def match_payload(match, *, request):
    """A match with both sides (`request.passenger` and `match.driver.driver_profile` loaded)."""
    return {**proposal_payload(match, request=request), "driver": driver_payload(match.driver),
            "confirm_expires_at": iso(request.confirm_deadline)}


def match_outcome_payload(match, *, reason):
    """A short notice that a proposal is gone: `reason` is taken | rejected | expired | passenger_cancelled."""
    return {"id": str(match.id), "request_id": str(match.request_id), "status": match.status, "reason": reason}


def request_payload(request, *, match=None, ride_id=None):
    """The request as its passenger sees it; `match` is the accepted/confirmed one, if any."""
    return {"id": str(request.id), "status": request.status, **_trip(request),
            "surge": {"cell": request.surge_cell, "supply": request.surge_supply, "demand": request.surge_demand},
            "match": match_payload(match, request=request) if match else None,
            "ride_id": str(ride_id) if ride_id else None,
            "confirm_expires_at": iso(request.confirm_deadline), "created_at": iso(request.created_at)}


def proposals_send_on_commit(matches, *, request):
    send_events_on_commit([([match.driver_id], MATCH_PROPOSAL, {"match": proposal_payload(match, request=request)})
                           for match in matches])


def outcomes_send_on_commit(matches, *, type, reason, also_tell=()):
    send_events_on_commit([([match.driver_id, *also_tell], type, {"match": match_outcome_payload(match, reason=reason)})
                           for match in matches])


def match_send_on_commit(match, *, request, type, user_ids):
    send_event_on_commit(user_ids, type, {"match": match_payload(match, request=request)})


def request_updated_send_on_commit(request):
    send_event_on_commit([request.passenger_id], REQUEST_UPDATED, {"request": request_payload(request)})
