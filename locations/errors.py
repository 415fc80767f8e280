from enum import Enum

from nebengjek.errors import DomainError


class LocationsError(str, Enum):
    NOT_A_DRIVER = "not_a_driver"
    DRIVER_NOT_VERIFIED = "driver_not_verified"
    INVALID_COORDINATES = "invalid_coordinates"


class LocationsException(DomainError):
    pass
