"""Every write to the ledger: ride settlement, refund and wallet top-ups, each one balanced transaction.

Lock order (CONVENTIONS.md): ride -> ledger accounts (by id, ascending). Amounts are the integer rupiah frozen on
the ride when it ended (rides app); nothing here rounds or recomputes a fare.
"""
import logging
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.errors import BillingError, BillingException, LedgerImbalanceError
from billing.gateways import GatewayUnavailable, get_payment_gateway
from billing.models import (
    AccountKind,
    EntryKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TopUp,
    TopUpStatus,
    TransactionPurpose,
)
from matching.models import PaymentMethod
from nebengjek import metrics
from rides.models import Ride, RideStatus

logger = logging.getLogger(__name__)


class Line(NamedTuple):
    account_id: int
    kind: str
    amount: int


# --- accounts -------------------------------------------------------------------------------------------------

def wallet_account_id(*, user_id) -> int:
    """The user's wallet account, created on first need."""
    account, _ = LedgerAccount.objects.get_or_create(user_id=user_id, defaults={"kind": AccountKind.WALLET})
    return account.pk


def system_account_id(*, kind) -> int:
    """The platform revenue or gateway clearing account, created on first need (one per kind)."""
    account, _ = LedgerAccount.objects.get_or_create(kind=kind, user=None)
    return account.pk


# --- posting --------------------------------------------------------------------------------------------------

def _ledger_post(*, purpose, idempotency_key, lines, ride=None, memo="") -> LedgerTransaction:
    """Write one balanced transaction and move the cached balances with it. The caller holds the atomic block."""
    lines = [line for line in lines if line.amount != 0]
    if sum(line.amount for line in lines) != 0:
        raise LedgerImbalanceError(f"{idempotency_key}: entries sum to {sum(line.amount for line in lines)}")
    account_ids = sorted({line.account_id for line in lines})
    list(LedgerAccount.objects.select_for_update().filter(pk__in=account_ids).order_by("pk").values_list("pk"))
    txn = LedgerTransaction.objects.create(purpose=purpose, idempotency_key=idempotency_key, ride=ride,
                                           entry_count=len(lines), memo=memo[:200])
    LedgerEntry.objects.bulk_create(
        [LedgerEntry(transaction=txn, account_id=line.account_id, kind=line.kind, amount=line.amount)
         for line in lines]
    )
    for line in lines:
        LedgerAccount.objects.filter(pk=line.account_id).update(balance=F("balance") + line.amount)
    _check_stored_sum(txn)
    return txn


def _check_stored_sum(txn):
    """Read back what was written, before the commit: the database's sum, not the Python list's."""
    stored = LedgerEntry.objects.filter(transaction=txn).aggregate(total=Sum("amount"))["total"] or 0
    if stored != 0:
        raise LedgerImbalanceError(f"{txn.idempotency_key}: stored entries sum to {stored}")


def _ride_transaction(*, ride_id, purpose):
    return LedgerTransaction.objects.filter(ride_id=ride_id, purpose=purpose).first()


# --- settlement -----------------------------------------------------------------------------------------------

def settlement_lines(*, ride) -> list[Line]:
    """../shared/API.md "Payment and settlement": who pays whom for a completed ride."""
    platform = system_account_id(kind=AccountKind.PLATFORM_REVENUE)
    driver = wallet_account_id(user_id=ride.driver_id)
    if ride.payment_method == PaymentMethod.WALLET:
        passenger = wallet_account_id(user_id=ride.passenger_id)
        return [
            Line(passenger, EntryKind.RIDE_PAYMENT, -ride.charged_amount),
            Line(driver, EntryKind.RIDE_PAYOUT, ride.driver_payout),
            Line(platform, EntryKind.ADMIN_FEE, ride.admin_fee),
        ]
    # Cash: the driver already holds charged_amount in hand and owes the platform its fee.
    return [
        Line(driver, EntryKind.ADMIN_FEE, -ride.admin_fee),
        Line(platform, EntryKind.ADMIN_FEE, ride.admin_fee),
    ]


def ride_settle(*, ride_id) -> LedgerTransaction:
    """Settle a completed ride exactly once; running it again (or concurrently) returns the one settlement.

    A wallet may go negative here: the final charge is recorded in full, as an amount the passenger owes.
    """
    try:
        with transaction.atomic():
            ride = Ride.objects.select_for_update().get(pk=ride_id)  # serializes settlers of this ride
            existing = _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.SETTLEMENT)
            if existing is not None:
                return existing
            if ride.status != RideStatus.COMPLETED:
                raise BillingException(BillingError.INVALID_RIDE_STATE, "Only a completed ride is settled.",
                                       status=409, details={"status": ride.status})
            txn = _ledger_post(purpose=TransactionPurpose.SETTLEMENT, idempotency_key=f"settlement:{ride.pk}",
                               ride=ride, lines=settlement_lines(ride=ride),
                               memo=f"{ride.payment_method} ride, charged {ride.charged_amount}")
            transaction.on_commit(lambda: metrics.settlement_observe(
                payment_method=ride.payment_method, ended_at=ride.ended_at, settled_at=txn.created_at))
            return txn
    except IntegrityError:
        # The unique (ride, purpose) key is the last line of defence if another writer got there first.
        existing = _ride_transaction(ride_id=ride_id, purpose=TransactionPurpose.SETTLEMENT)
        if existing is None:
            raise
        return existing


# --- refund ---------------------------------------------------------------------------------------------------

def refund_lines(*, ride) -> list[Line]:
    """The whole charge back to the passenger's wallet; the driver returns the payout, the platform its fee.

    For a wallet ride this exactly reverses the settlement. For a cash ride the cash cannot be handed back by the
    ledger, so the passenger is credited in the wallet and the driver owes the payout they kept.
    """
    return [
        Line(wallet_account_id(user_id=ride.passenger_id), EntryKind.REFUND, ride.charged_amount),
        Line(wallet_account_id(user_id=ride.driver_id), EntryKind.REFUND, -ride.driver_payout),
        Line(system_account_id(kind=AccountKind.PLATFORM_REVENUE), EntryKind.REFUND, -ride.admin_fee),
    ]


def ride_refund(*, ride_id, reason="", refunded_by=None) -> LedgerTransaction:
    """Refund a settled ride in full, once, as a new reversing transaction (nothing posted is ever edited)."""
    with transaction.atomic():
        ride = Ride.objects.select_for_update().get(pk=ride_id)
        if _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.SETTLEMENT) is None:
            raise BillingException(BillingError.RIDE_NOT_SETTLED, "Only a settled ride can be refunded.", status=409)
        if _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.REFUND) is not None:
            raise BillingException(BillingError.ALREADY_REFUNDED, "This ride was already refunded.", status=409)
        by = f" by {refunded_by}" if refunded_by else ""
        return _ledger_post(purpose=TransactionPurpose.REFUND, idempotency_key=f"refund:{ride.pk}", ride=ride,
                            lines=refund_lines(ride=ride), memo=f"refund{by}: {reason}".strip())


# --- top-ups --------------------------------------------------------------------------------------------------

def topup_amount_validate(*, amount):
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BillingException(BillingError.INVALID_AMOUNT, "The amount must be a whole number of rupiah.",
                               details={"amount": ["Must be an integer."]})
    low, high = settings.WALLET_TOPUP_MIN, settings.WALLET_TOPUP_MAX
    if not low <= amount <= high:
        raise BillingException(BillingError.INVALID_AMOUNT, f"The amount must be between {low} and {high} IDR.",
                               details={"amount": [f"Must be between {low} and {high}."]})


def _topup_record(*, user_id, amount, idempotency_key) -> TopUp:
    """The top-up for this key: created now, or the earlier one if the amount matches (else 422)."""
    try:
        with transaction.atomic():
            topup, _ = TopUp.objects.get_or_create(user_id=user_id, idempotency_key=idempotency_key,
                                                   defaults={"amount": amount})
    except IntegrityError:  # a concurrent request with the same key won the insert
        topup = TopUp.objects.get(user_id=user_id, idempotency_key=idempotency_key)
    if topup.amount != amount:
        raise BillingException(BillingError.IDEMPOTENCY_KEY_REUSED,
                               "This Idempotency-Key was already used for a different amount.", status=422,
                               details={"amount": topup.amount})
    return topup


def _topup_declined(topup):
    return BillingException(BillingError.PAYMENT_DECLINED, topup.failure_reason or "The payment was declined.",
                            status=402, details={"topup_id": str(topup.pk)})


def _topup_fail(*, topup_id, reason) -> TopUp:
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.status == TopUpStatus.PENDING:
            topup.status, topup.failure_reason, topup.completed_at = TopUpStatus.FAILED, reason[:200], timezone.now()
            topup.save(update_fields=["status", "failure_reason", "completed_at"])
        return topup


def _topup_complete(*, topup_id, reference) -> TopUp:
    """Credit the wallet from gateway clearing, once (the top-up row lock and the unique key guard it)."""
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.status != TopUpStatus.PENDING:
            return topup
        topup.transaction = _ledger_post(
            purpose=TransactionPurpose.TOPUP, idempotency_key=f"topup:{topup.pk}",
            lines=[Line(system_account_id(kind=AccountKind.GATEWAY_CLEARING), EntryKind.TOPUP, -topup.amount),
                   Line(wallet_account_id(user_id=topup.user_id), EntryKind.TOPUP, topup.amount)],
            memo=f"gateway {reference}",
        )
        topup.status, topup.gateway_reference, topup.completed_at = TopUpStatus.SUCCEEDED, reference, timezone.now()
        topup.save(update_fields=["transaction", "status", "gateway_reference", "completed_at"])
        return topup


def topup_create(*, user_id, amount, idempotency_key) -> TopUp:
    """Charge the gateway and credit the wallet. The same key again returns the same top-up, credited once.

    The charge happens outside any database transaction; a pending top-up (a crash or timeout after recording
    it) is resumed by the next request with the same key, relying on the gateway's own idempotency.
    """
    topup_amount_validate(amount=amount)
    topup = _topup_record(user_id=user_id, amount=amount, idempotency_key=idempotency_key)
    if topup.status == TopUpStatus.SUCCEEDED:
        return topup
    if topup.status == TopUpStatus.FAILED:
        raise _topup_declined(topup)
    try:
        result = get_payment_gateway().charge(amount=topup.amount, user_id=user_id, idempotency_key=str(topup.pk))
    except GatewayUnavailable as exc:
        logger.warning("payment gateway unavailable", extra={"topup_id": str(topup.pk), "error": str(exc)})
        raise BillingException(BillingError.PAYMENT_GATEWAY_UNAVAILABLE,
                               "The payment provider did not answer; retry with the same Idempotency-Key.",
                               status=503, details={"topup_id": str(topup.pk)}) from exc
    if not result.succeeded:
        raise _topup_declined(_topup_fail(topup_id=topup.pk, reason=result.failure_reason))
    return _topup_complete(topup_id=topup.pk, reference=result.reference)
