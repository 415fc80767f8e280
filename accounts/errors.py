"""The accounts catalogue: sign-in, sessions and driver registration (docs/errors.md is generated from it)."""

from nebengjek.errors import CommonError, DomainError, ErrorCode


class AccountsError(ErrorCode):
    INVALID_MSISDN = ("invalid_msisdn", 400, "Not a valid Telkomsel number.")
    INVALID_OTP = ("invalid_otp", 400, "The code is not valid.")
    OTP_EXPIRED = ("otp_expired", 400, "The code has expired; request a new one.")
    OTP_LOCKED = ("otp_locked", 400, "Too many wrong codes; request a new one.")
    OTP_RATE_LIMITED = ("otp_rate_limited", 429, "Too many codes requested; try again later.")
    ALREADY_DRIVER = ("already_driver", 409, "You are already registered as a driver.")
    INVALID_VEHICLE_PLATE = ("invalid_vehicle_plate", 400, "Not an Indonesian plate like 'B 1234 XYZ'.")
    VEHICLE_PLATE_TAKEN = ("vehicle_plate_taken", 409, "That plate is registered to another driver.")
    USER_SUSPENDED = ("user_suspended", 403, "This account is suspended.")


class AccountsException(DomainError):
    pass


# token_not_valid's message for a token of a signed-out or revoked sign-in session, REST and refresh alike.
SESSION_ENDED_MESSAGE = "This sign-in session has ended; sign in again."


# The codes each REST view may answer besides nebengjek.errors' common ones (the OpenAPI schema lists them).
OPERATION_ERRORS = {
    "OtpRequestApi": (AccountsError.INVALID_MSISDN, AccountsError.OTP_RATE_LIMITED),
    "OtpVerifyApi": (
        AccountsError.INVALID_MSISDN,
        AccountsError.INVALID_OTP,
        AccountsError.OTP_EXPIRED,
        AccountsError.OTP_LOCKED,
        AccountsError.USER_SUSPENDED,
    ),
    "TokenRefreshApi": (CommonError.TOKEN_NOT_VALID,),
    "LogoutApi": (CommonError.TOKEN_NOT_VALID,),
    "DriverRegisterApi": (
        AccountsError.INVALID_VEHICLE_PLATE,
        AccountsError.ALREADY_DRIVER,
        AccountsError.VEHICLE_PLATE_TAKEN,
    ),
}
