"""The billing catalogue: wallet top-ups, settlement and refunds (a ride in the wrong state is rides'
invalid_ride_state, a ride you cannot see is rides' ride_not_found)."""

from nebengjek.errors import CommonError, DomainError, ErrorCode
from rides.errors import RidesError


class BillingError(ErrorCode):
    RIDE_NOT_SETTLED = ("ride_not_settled", 409, "Only a settled ride can be refunded.")
    ALREADY_REFUNDED = ("already_refunded", 409, "This ride was already refunded.")
    INVALID_AMOUNT = ("invalid_amount", 400, "The amount must be a whole number of rupiah within the top-up limits.")
    IDEMPOTENCY_KEY_REQUIRED = ("idempotency_key_required", 400, "Send an Idempotency-Key header.")
    INVALID_IDEMPOTENCY_KEY = ("invalid_idempotency_key", 400, "The Idempotency-Key is too long or not printable.")
    IDEMPOTENCY_KEY_REUSED = (
        "idempotency_key_reused",
        422,
        "This Idempotency-Key was already used for a different amount.",
    )
    PAYMENT_DECLINED = ("payment_declined", 402, "The payment was declined.")
    PAYMENT_GATEWAY_UNAVAILABLE = (
        "payment_gateway_unavailable",
        503,
        "The payment provider did not answer; retry with the same Idempotency-Key.",
    )
    NOTHING_TO_SETTLE = ("nothing_to_settle", 409, "This ride moved no money.")


class BillingException(DomainError):
    pass


class LedgerImbalanceError(Exception):
    """A bug, never a client error: someone tried to post entries that do not sum to zero."""


class LedgerEmptyTransactionError(LedgerImbalanceError):
    """A bug, never a client error: someone tried to post a transaction that moves no money."""


OPERATION_ERRORS = {
    "RideReceiptApi": (RidesError.RIDE_NOT_FOUND, RidesError.INVALID_RIDE_STATE),
    "WalletTransactionListApi": (CommonError.NOT_FOUND,),
    "WalletTopUpApi": (
        BillingError.IDEMPOTENCY_KEY_REQUIRED,
        BillingError.INVALID_IDEMPOTENCY_KEY,
        BillingError.INVALID_AMOUNT,
        BillingError.IDEMPOTENCY_KEY_REUSED,
        BillingError.PAYMENT_DECLINED,
        BillingError.PAYMENT_GATEWAY_UNAVAILABLE,
    ),
}
