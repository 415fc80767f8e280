from enum import Enum

from nebengjek.errors import DomainError


class BillingError(str, Enum):
    INVALID_RIDE_STATE = "invalid_ride_state"
    RIDE_NOT_SETTLED = "ride_not_settled"
    ALREADY_REFUNDED = "already_refunded"
    INVALID_AMOUNT = "invalid_amount"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_GATEWAY_UNAVAILABLE = "payment_gateway_unavailable"
    NOTHING_TO_SETTLE = "nothing_to_settle"


class BillingException(DomainError):
    pass


class LedgerImbalanceError(Exception):
    """A bug, never a client error: someone tried to post entries that do not sum to zero."""


class LedgerEmptyTransactionError(LedgerImbalanceError):
    """A bug, never a client error: someone tried to post a transaction that moves no money."""
