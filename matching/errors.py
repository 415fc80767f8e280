"""The matching catalogue: ride requests, proposals (matches) and the service area."""

from nebengjek.errors import DomainError, ErrorCode, status_in_words
from products.errors import ProductsError


class MatchingError(ErrorCode):
    ACTIVE_REQUEST_EXISTS = (
        "active_request_exists",
        409,
        "You already have an open ride request or a ride in progress.",
    )
    INSUFFICIENT_BALANCE = (
        "insufficient_balance",
        409,
        "Your wallet balance, less rides not yet settled, is below the fare estimate.",
    )
    REQUEST_NOT_FOUND = ("request_not_found", 404, "No such ride request.")
    REQUEST_NOT_CONFIRMABLE = (
        "request_not_confirmable",
        409,
        "Only a request with an accepted driver can be confirmed.",
    )
    CONFIRM_EXPIRED = ("confirm_expired", 409, "The time to confirm this driver has passed.")
    REQUEST_NOT_CANCELLABLE = ("request_not_cancellable", 409, "This request can no longer be cancelled.")
    MATCH_NOT_FOUND = ("match_not_found", 404, "No such proposal for you.")
    MATCH_NOT_PENDING = ("match_not_pending", 409, "This proposal is no longer open (taken, expired or cancelled).")
    OUTSIDE_SERVICE_AREA = ("outside_service_area", 400, "The trip starts or ends outside the area NebengJek serves.")
    TRIP_TOO_LONG = ("trip_too_long", 400, "The trip is longer than the longest trip that can be requested.")
    DISPATCH_OVERLOADED = (
        "dispatch_overloaded",
        503,
        "Too many ride requests right now; retry after the Retry-After header's seconds.",
    )


class MatchingException(DomainError):
    pass


# The request statuses that do not read as their name in a sentence ("This request is already cancelled.").
REQUEST_STATUS_WORDS = {
    "searching": "still searching for a driver",
    "driver_found": "waiting for your confirmation",
    "no_driver": "closed: no driver was found",
}


def request_status_words(status: str) -> str:
    return status_in_words(status, REQUEST_STATUS_WORDS)


def request_state_message(status: str) -> str:
    """Why a request cannot be confirmed in `status`."""
    if status == "searching":
        return "No driver has accepted this request yet; confirm after a match.accepted."
    return f"This request is {request_status_words(status)}; only a request with an accepted driver can be confirmed."


def request_not_found() -> MatchingException:
    return MatchingException(MatchingError.REQUEST_NOT_FOUND)


def match_not_found() -> MatchingException:
    return MatchingException(MatchingError.MATCH_NOT_FOUND)


def match_not_pending() -> MatchingException:
    return MatchingException(MatchingError.MATCH_NOT_PENDING)


_MATCH_ANSWER = (MatchingError.MATCH_NOT_FOUND, MatchingError.MATCH_NOT_PENDING)
OPERATION_ERRORS = {
    "RequestCreateApi": (
        MatchingError.ACTIVE_REQUEST_EXISTS,
        MatchingError.INSUFFICIENT_BALANCE,
        MatchingError.OUTSIDE_SERVICE_AREA,
        MatchingError.TRIP_TOO_LONG,
        MatchingError.DISPATCH_OVERLOADED,
        ProductsError.UNKNOWN_PRODUCT,
    ),
    "RequestDetailApi": (MatchingError.REQUEST_NOT_FOUND,),
    "RequestConfirmApi": (
        MatchingError.REQUEST_NOT_FOUND,
        MatchingError.REQUEST_NOT_CONFIRMABLE,
        MatchingError.CONFIRM_EXPIRED,
    ),
    "RequestCancelApi": (MatchingError.REQUEST_NOT_FOUND, MatchingError.REQUEST_NOT_CANCELLABLE),
    "MatchDetailApi": (MatchingError.MATCH_NOT_FOUND,),
    "MatchAcceptApi": _MATCH_ANSWER,
    "MatchRejectApi": _MATCH_ANSWER,
}
