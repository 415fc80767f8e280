"""The locations catalogue. A latitude/longitude out of range is `invalid_input` naming the field, as everywhere."""
from accounts.errors import AccountsError
from nebengjek.errors import DomainError, ErrorCode


class LocationsError(ErrorCode):
    """Locations has no codes of its own today: a passenger's beacon is accounts' not_a_driver."""


class LocationsException(DomainError):
    pass


OPERATION_ERRORS = {
    "DriverBeaconApi": (AccountsError.NOT_A_DRIVER,),
}
