from enum import Enum

from nebengjek.errors import DomainError


class MatchingError(str, Enum):
    ACTIVE_REQUEST_EXISTS = "active_request_exists"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_NOT_CONFIRMABLE = "request_not_confirmable"
    CONFIRM_EXPIRED = "confirm_expired"
    REQUEST_NOT_CANCELLABLE = "request_not_cancellable"
    MATCH_NOT_FOUND = "match_not_found"
    MATCH_NOT_PENDING = "match_not_pending"
    OUTSIDE_SERVICE_AREA = "outside_service_area"
    TRIP_TOO_LONG = "trip_too_long"


class MatchingException(DomainError):
    pass


def request_not_found():
    return MatchingException(MatchingError.REQUEST_NOT_FOUND, "No such ride request.", status=404)


def match_not_found():
    return MatchingException(MatchingError.MATCH_NOT_FOUND, "No such proposal for you.", status=404)


def match_not_pending():
    return MatchingException(MatchingError.MATCH_NOT_PENDING,
                             "This proposal is no longer open (taken, expired or cancelled).", status=409)
