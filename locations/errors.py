"""The locations catalogue. A latitude/longitude out of range is `invalid_input` naming the field, as everywhere."""
from accounts.errors import AccountsError
from nebengjek.errors import DomainError, ErrorCode


class LocationsError(ErrorCode):
    """A passenger's beacon is accounts' not_a_driver; going online needs a verified driver."""

    DRIVER_NOT_VERIFIED = ("driver_not_verified", 403,
                           "Your driver account is not verified yet; you can go online once it is.")


class LocationsException(DomainError):
    pass


OPERATION_ERRORS = {
    "DriverBeaconApi": (AccountsError.NOT_A_DRIVER, LocationsError.DRIVER_NOT_VERIFIED),
}
