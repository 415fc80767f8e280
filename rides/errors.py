from enum import Enum

from nebengjek.errors import DomainError


class RidesError(str, Enum):
    RIDE_NOT_FOUND = "ride_not_found"
    INVALID_RIDE_STATE = "invalid_ride_state"
    NOT_THE_DRIVER = "not_the_driver"
    NOT_THE_PASSENGER = "not_the_passenger"
    TOO_FAR_FROM_PASSENGER = "too_far_from_passenger"
    DRIVER_POSITION_UNKNOWN = "driver_position_unknown"
    INVALID_PRICE_PCT = "invalid_price_pct"
    ALREADY_RATED = "already_rated"
    RATING_WINDOW_CLOSED = "rating_window_closed"


class RidesException(DomainError):
    pass
