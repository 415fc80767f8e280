"""The rides catalogue: a ride's state machine, the start rule, the end's price and ratings."""

from nebengjek.errors import DomainError, ErrorCode, status_in_words


class RidesError(ErrorCode):
    RIDE_NOT_FOUND = ("ride_not_found", 404, "No such ride.")
    INVALID_RIDE_STATE = ("invalid_ride_state", 409, "The ride's status does not allow this.")
    NOT_THE_DRIVER = ("not_the_driver", 403, "Only the ride's driver can do this.")
    NOT_THE_PASSENGER = ("not_the_passenger", 403, "Only the ride's passenger can do this.")
    TOO_FAR_FROM_PASSENGER = ("too_far_from_passenger", 409, "You are too far from the passenger to start.")
    DRIVER_POSITION_UNKNOWN = ("driver_position_unknown", 409, "Send your location first.")
    INVALID_PRICE_PCT = ("invalid_price_pct", 400, "price_pct must be an integer from 1 to 100.")
    ALREADY_RATED = ("already_rated", 409, "You have already rated this ride.")
    RATING_WINDOW_CLOSED = ("rating_window_closed", 409, "The time to rate this ride has passed.")
    DRIVER_NOT_ARRIVED = ("driver_not_arrived", 409, "A no-show can be reported only after arriving at the pickup.")
    FREE_WAITING_NOT_OVER = (
        "free_waiting_not_over",
        409,
        "The passenger's free waiting time is not over yet; report a no-show after it.",
    )
    CHAT_CLOSED = (
        "chat_closed",
        409,
        "This ride's chat is closed: it opens at the confirm and closes 30 minutes after the ride ends.",
    )
    CHAT_RATE_LIMITED = ("chat_rate_limited", 429, "Too many chat messages; wait a moment.")
    INVALID_CHAT_MESSAGE = (
        "invalid_chat_message",
        400,
        "Send either a text of 1 to 500 characters or a known quick_reply.",
    )
    CHAT_MESSAGE_NOT_FOUND = ("chat_message_not_found", 404, "No such message in this ride's chat.")
    SHARE_CLOSED = ("share_closed", 409, "This ride can no longer be shared: it ended more than 30 minutes ago.")
    SHARE_NOT_FOUND = ("share_not_found", 404, "This trip link does not exist, has expired or was revoked.")


class RidesException(DomainError):
    pass


# The ride statuses that do not read as their name in a sentence ("This ride is in progress.").
RIDE_STATUS_WORDS = {"driver_en_route": "waiting for its driver"}


def ride_status_words(status: str) -> str:
    return status_in_words(status, RIDE_STATUS_WORDS)


def invalid_ride_state(status: str, message: str) -> RidesException:
    return RidesException(RidesError.INVALID_RIDE_STATE, message, details={"status": str(status)})


_RIDE = (RidesError.RIDE_NOT_FOUND,)
OPERATION_ERRORS = {
    "RideDetailApi": _RIDE,
    "RideStartApi": (
        *_RIDE,
        RidesError.NOT_THE_DRIVER,
        RidesError.INVALID_RIDE_STATE,
        RidesError.DRIVER_POSITION_UNKNOWN,
        RidesError.TOO_FAR_FROM_PASSENGER,
    ),
    "RideEndApi": (*_RIDE, RidesError.NOT_THE_DRIVER, RidesError.INVALID_PRICE_PCT, RidesError.INVALID_RIDE_STATE),
    "RideCancelApi": (*_RIDE, RidesError.INVALID_RIDE_STATE),
    "RideReportDriverGoneApi": (*_RIDE, RidesError.NOT_THE_PASSENGER, RidesError.INVALID_RIDE_STATE),
    "RideNoShowApi": (
        *_RIDE,
        RidesError.NOT_THE_DRIVER,
        RidesError.INVALID_RIDE_STATE,
        RidesError.DRIVER_NOT_ARRIVED,
        RidesError.FREE_WAITING_NOT_OVER,
    ),
    "RideRateApi": (*_RIDE, RidesError.INVALID_RIDE_STATE, RidesError.RATING_WINDOW_CLOSED, RidesError.ALREADY_RATED),
    "RideMessageListApi": (
        *_RIDE,
        RidesError.INVALID_CHAT_MESSAGE,
        RidesError.CHAT_CLOSED,
        RidesError.CHAT_RATE_LIMITED,
    ),
    "RideMessageReceiptApi": (*_RIDE, RidesError.INVALID_CHAT_MESSAGE, RidesError.CHAT_MESSAGE_NOT_FOUND),
    "RideShareCreateApi": (*_RIDE, RidesError.NOT_THE_PASSENGER, RidesError.SHARE_CLOSED),
    "RideShareRevokeApi": (*_RIDE, RidesError.NOT_THE_PASSENGER, RidesError.SHARE_NOT_FOUND),
}
