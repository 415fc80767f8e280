from enum import Enum

from nebengjek.errors import DomainError


class AccountsError(str, Enum):
    INVALID_MSISDN = "invalid_msisdn"
    INVALID_OTP = "invalid_otp"
    OTP_EXPIRED = "otp_expired"
    OTP_LOCKED = "otp_locked"
    OTP_RATE_LIMITED = "otp_rate_limited"
    ALREADY_DRIVER = "already_driver"
    INVALID_VEHICLE_PLATE = "invalid_vehicle_plate"
    VEHICLE_PLATE_TAKEN = "vehicle_plate_taken"
    NOT_A_DRIVER = "not_a_driver"
    USER_SUSPENDED = "user_suspended"


class AccountsException(DomainError):
    pass
