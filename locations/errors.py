"""The locations catalogue. A latitude/longitude out of range is `invalid_input` naming the field, as everywhere."""

from nebengjek.errors import DomainError, ErrorCode


class LocationsError(ErrorCode):
    """Only drivers have a beacon; going online needs a verified driver."""

    NOT_A_DRIVER = ("not_a_driver", 403, "Only drivers can do this.")
    DRIVER_NOT_VERIFIED = (
        "driver_not_verified",
        403,
        "Your driver account is not verified yet; you can go online once it is.",
    )


class LocationsException(DomainError):
    pass


OPERATION_ERRORS = {
    "DriverBeaconApi": (LocationsError.NOT_A_DRIVER, LocationsError.DRIVER_NOT_VERIFIED),
}
