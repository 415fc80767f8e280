"""Every write to the ledger: ride settlement, refund and wallet top-ups, each one balanced transaction.

Lock order (CONVENTIONS.md): ride -> ledger accounts (by id, ascending). Amounts are the integer rupiah frozen on
the ride when it ended (rides app); nothing here rounds or recomputes a fare.
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone

from billing.errors import BillingError, BillingException, LedgerEmptyTransactionError, LedgerImbalanceError
from billing.gateways import ChargeResult, GatewayUnavailable, get_payment_gateway
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
from nebengjek import metrics, tracing
from rides.errors import RidesException, invalid_ride_state, ride_status_words
from rides.models import Ride, RideStatus

logger = logging.getLogger(__name__)


# A completed Ride (its money fields set), as _rides_for_settlement loads it (annotated `settled`, `platform_id`):
# the model's own type says the amounts may be None and knows no annotations.
SettledRide = Any


class Line(NamedTuple):
    account_id: int
    kind: str
    amount: int


# --- accounts -------------------------------------------------------------------------------------------------


def wallet_account_id(*, user_id: UUID | str) -> int:
    """The user's wallet account, created on first need."""
    account, _ = LedgerAccount.objects.get_or_create(user_id=user_id, defaults={"kind": AccountKind.WALLET})
    return account.pk


def system_account_id(*, kind: str) -> int:
    """The platform revenue or gateway clearing account, created on first need (one per kind)."""
    account, _ = LedgerAccount.objects.get_or_create(kind=kind, user=None)
    return account.pk


def _system_account_id_subquery(kind: str) -> Subquery:
    """The system account's id as a subquery, to ride along in another query (a sub-select is never locked)."""
    return Subquery(LedgerAccount.objects.filter(kind=kind, user=None).values("pk")[:1])


def _wallets_lock(*, user_ids: Iterable[UUID | str]) -> dict[Any, int]:
    """{user id: wallet account id} for these users, rows locked in ascending id (the lock order), created on
    first need. One query when every wallet exists."""
    user_ids = set(user_ids)
    locked = (
        LedgerAccount.objects.select_for_update()
        .filter(user_id__in=user_ids, kind=AccountKind.WALLET)
        .order_by("pk")
        .values_list("user_id", "pk")
    )
    wallets = dict(locked)
    if len(wallets) < len(user_ids):
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind=AccountKind.WALLET, user_id=user_id) for user_id in user_ids - wallets.keys()],
            ignore_conflicts=True,
        )
        wallets = dict(locked.all())
    return wallets


# --- posting --------------------------------------------------------------------------------------------------
#
# Cached balances: only wallets carry one (moved with their entries, checked by reconcile_ledger). The system
# accounts (platform revenue, gateway clearing) are touched by every settlement or top-up: a cached balance on
# them would be one row every posting locks until its commit, serializing all settlements. Their balance is the
# sum of their entries (selectors.account_balance).


def _balanced_lines(*, idempotency_key: str, lines: Iterable[Line]) -> list[Line]:
    """The non-zero lines, refused unless they sum to zero and there are at least two (never an empty transaction;
    the database refuses one too, migration 0004)."""
    lines = [line for line in lines if line.amount != 0]
    total = sum(line.amount for line in lines)
    if total != 0:
        raise LedgerImbalanceError(f"{idempotency_key}: entries sum to {total}")
    if len(lines) < 2:
        raise LedgerEmptyTransactionError(f"{idempotency_key}: no money moves")
    return lines


def _wallet_deltas(lines: Iterable[Line], wallet_ids: set[int]) -> dict[int, int]:
    deltas: dict[int, int] = {}
    for line in lines:
        if line.account_id in wallet_ids:
            deltas[line.account_id] = deltas.get(line.account_id, 0) + line.amount
    return {account_id: delta for account_id, delta in deltas.items() if delta}


def _wallet_balances_move(deltas: dict[int, int]) -> None:
    """One UPDATE for every wallet's cached balance (the rows are already locked by the caller, in id order)."""
    if not deltas:
        return
    if len(deltas) == 1:  # a cash ride's settlement: one wallet
        ((account_id, delta),) = deltas.items()
        LedgerAccount.objects.filter(pk=account_id).update(balance=F("balance") + delta)
        return
    # One UPDATE per wallet sent as one executemany (pipelined by psycopg), in id order: a CASE over every wallet
    # was the settlement's costliest statement to build.
    table = connection.ops.quote_name(LedgerAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET balance = balance + %s WHERE id = %s",
            [(delta, account_id) for account_id, delta in sorted(deltas.items())],
        )


def _transactions_write(postings: list[tuple[LedgerTransaction, list[Line]]]) -> list[LedgerTransaction]:
    """Insert transactions and all their entries: two statements whatever the number of transactions.

    `postings`: (LedgerTransaction not yet saved, [Line]) pairs, each already balanced."""
    with tracing.span("billing.ledger_write", {"ledger.transactions": len(postings)}):
        txns = LedgerTransaction.objects.bulk_create([txn for txn, _ in postings])
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(transaction=txn, account_id=line.account_id, kind=line.kind, amount=line.amount)
                for txn, lines in postings
                for line in lines
            ]
        )
        if connection.vendor != "postgresql":
            # PostgreSQL's deferred constraint trigger checks count and sum at COMMIT; elsewhere read the sum back.
            for txn in txns:
                _check_stored_sum(txn)
    return txns


def _ledger_post(
    *, purpose: str, idempotency_key: str, lines: Iterable[Line], ride: Ride | None = None, memo: str = ""
) -> LedgerTransaction:
    """Write one balanced transaction and move the wallets' cached balances with it. The caller holds the atomic
    block."""
    lines = _balanced_lines(idempotency_key=idempotency_key, lines=lines)
    wallet_ids = set(
        LedgerAccount.objects.select_for_update()
        .filter(pk__in=sorted({line.account_id for line in lines}), kind=AccountKind.WALLET)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    txn = LedgerTransaction(
        purpose=purpose, idempotency_key=idempotency_key, ride=ride, entry_count=len(lines), memo=memo[:200]
    )
    _transactions_write([(txn, lines)])
    _wallet_balances_move(_wallet_deltas(lines, wallet_ids))
    return txn


def _check_stored_sum(txn: LedgerTransaction) -> None:
    """Read back what was written, before the commit: the database's sum, not the Python list's."""
    stored = LedgerEntry.objects.filter(transaction=txn).aggregate(total=Sum("amount"))["total"] or 0
    if stored != 0:
        raise LedgerImbalanceError(f"{txn.idempotency_key}: stored entries sum to {stored}")


def _ride_transaction(*, ride_id: UUID | str, purpose: str) -> LedgerTransaction | None:
    return LedgerTransaction.objects.filter(ride_id=ride_id, purpose=purpose).first()


# --- settlement -----------------------------------------------------------------------------------------------


def settlement_lines(
    *, ride: SettledRide, platform_id: int | None = None, wallets: dict[Any, int] | None = None
) -> list[Line]:
    """../shared/API.md "Payment and settlement": who pays whom for a completed ride.

    `platform_id` and `wallets` ({user id: account id}) skip the look-ups when the caller already has them."""
    platform = platform_id or system_account_id(kind=AccountKind.PLATFORM_REVENUE)

    def wallet(user_id: UUID | str) -> int:
        return wallets[user_id] if wallets is not None else wallet_account_id(user_id=user_id)

    if ride.payment_method == PaymentMethod.WALLET:
        return [
            Line(wallet(ride.passenger_id), EntryKind.RIDE_PAYMENT, -ride.charged_amount),
            Line(wallet(ride.driver_id), EntryKind.RIDE_PAYOUT, ride.driver_payout),
            Line(platform, EntryKind.ADMIN_FEE, ride.admin_fee),
        ]
    # Cash: the driver already holds charged_amount in hand and owes the platform its fee.
    return [
        Line(wallet(ride.driver_id), EntryKind.ADMIN_FEE, -ride.admin_fee),
        Line(platform, EntryKind.ADMIN_FEE, ride.admin_fee),
    ]


def _nothing_to_settle(ride: SettledRide) -> bool:
    """No line of the ride's settlement would move money. The minimum fare rules that out for every ride it priced
    (settings FARE_MINIMUM_IDR: at least 1 IDR of fee even at price_pct 1); only a ride frozen before it can."""
    moved = ride.charged_amount if ride.payment_method == PaymentMethod.WALLET else ride.admin_fee
    return not moved


def _settleable(ride: SettledRide) -> bool:
    return not ride.settled and ride.status == RideStatus.COMPLETED and not _nothing_to_settle(ride)


def _settlement_parties(ride: SettledRide) -> list[UUID]:
    return [ride.driver_id, ride.passenger_id] if ride.payment_method == PaymentMethod.WALLET else [ride.driver_id]


def _rides_for_settlement(ride_ids: Iterable[UUID | str], *, skip_locked: bool = False) -> QuerySet[SettledRide]:
    """The rides locked (ascending id), each annotated with `settled` and the platform account's `platform_id`."""
    settled = LedgerTransaction.objects.filter(ride=OuterRef("pk"), purpose=TransactionPurpose.SETTLEMENT)
    return (
        Ride.objects.select_for_update(skip_locked=skip_locked)
        .filter(pk__in=ride_ids)
        .annotate(settled=Exists(settled), platform_id=_system_account_id_subquery(AccountKind.PLATFORM_REVENUE))
        .only(
            "id",
            "status",
            "driver_id",
            "passenger_id",
            "payment_method",
            "charged_amount",
            "admin_fee",
            "driver_payout",
            "ended_at",
        )
        .order_by("pk")
    )


def _settlement_posting(
    ride: SettledRide, *, platform_id: int, wallets: dict[Any, int]
) -> tuple[LedgerTransaction, list[Line]]:
    lines = _balanced_lines(
        idempotency_key=f"settlement:{ride.pk}",
        lines=settlement_lines(ride=ride, platform_id=platform_id, wallets=wallets),
    )
    txn = LedgerTransaction(
        purpose=TransactionPurpose.SETTLEMENT,
        idempotency_key=f"settlement:{ride.pk}",
        ride_id=ride.pk,
        entry_count=len(lines),
        memo=f"{ride.payment_method} ride, charged {ride.charged_amount}"[:200],
    )
    return txn, lines


def _settlements_post(rides: list[SettledRide]) -> list[LedgerTransaction]:
    """Post the settlements of these locked, completed, unsettled rides: one ledger transaction each, written
    with a fixed number of statements (wallets locked, transactions, entries, one balance update)."""
    platform_id = rides[0].platform_id or system_account_id(kind=AccountKind.PLATFORM_REVENUE)
    wallets = _wallets_lock(user_ids=[user_id for ride in rides for user_id in _settlement_parties(ride)])
    postings = [_settlement_posting(ride, platform_id=platform_id, wallets=wallets) for ride in rides]
    txns = _transactions_write(postings)
    _wallet_balances_move(_wallet_deltas([line for _, lines in postings for line in lines], set(wallets.values())))
    for ride, txn in zip(rides, txns, strict=True):
        transaction.on_commit(
            partial(
                metrics.settlement_observe,
                payment_method=ride.payment_method,
                ended_at=ride.ended_at,
                settled_at=txn.created_at,
            )
        )
    return txns


def _not_completed(ride: Ride) -> RidesException:
    return invalid_ride_state(
        ride.status, f"Only a completed ride is settled; this one is {ride_status_words(ride.status)}."
    )


def ride_settle(*, ride_id: UUID | str) -> LedgerTransaction:
    """Settle a completed ride exactly once; running it again (or concurrently) returns the one settlement.

    A wallet may go negative here: the final charge is recorded in full, as an amount the passenger owes.
    """
    try:
        with transaction.atomic():
            ride = next(iter(_rides_for_settlement([ride_id])), None)  # the row lock serializes its settlers
            if ride is None:
                raise Ride.DoesNotExist(f"no ride {ride_id}")
            if ride.settled:
                return _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.SETTLEMENT)  # type: ignore[return-value]  # settled: it exists
            if ride.status != RideStatus.COMPLETED:
                raise _not_completed(ride)
            if _nothing_to_settle(ride):  # no empty transaction: left unsettled, listed by reconcile_ledger
                raise BillingException(
                    BillingError.NOTHING_TO_SETTLE,
                    details={"charged_amount": ride.charged_amount, "admin_fee": ride.admin_fee},
                )
            return _settlements_post([ride])[0]
    except IntegrityError:
        # The unique (ride, purpose) key is the last line of defence if another writer got there first.
        existing = _ride_transaction(ride_id=ride_id, purpose=TransactionPurpose.SETTLEMENT)
        if existing is None:
            raise
        return existing


def rides_settle(*, ride_ids: Iterable[UUID | str]) -> int:
    """Settle many completed rides with one commit: each still its own ledger transaction with its own key.

    Rides another settler holds locked are skipped (it is settling them); settled, not completed or moneyless ones
    are left as they are. If the chunk fails as a whole, each ride is retried on its own so one bad ride cannot hold
    back the others. Returns how many settlements this call posted."""
    ride_ids = list(dict.fromkeys(ride_ids))
    if not ride_ids:
        return 0
    try:
        with transaction.atomic():
            rides = [ride for ride in _rides_for_settlement(ride_ids, skip_locked=True) if _settleable(ride)]
            return len(_settlements_post(rides)) if rides else 0
    except Exception:
        logger.warning(
            "settling a chunk of rides failed; settling them one by one", exc_info=True, extra={"rides": len(ride_ids)}
        )
    posted = 0
    for ride_id in ride_ids:
        try:
            with transaction.atomic():
                ride = next(iter(_rides_for_settlement([ride_id])), None)
                if ride is None or not _settleable(ride):
                    continue
                _settlements_post([ride])
                posted += 1
        except Exception:  # left unsettled: listed by reconcile_ledger, picked up by the next sweep
            logger.exception("could not settle ride", extra={"ride_id": str(ride_id)})
    return posted


# --- refund ---------------------------------------------------------------------------------------------------


def refund_lines(*, ride: SettledRide) -> list[Line]:
    """The whole charge back to the passenger's wallet; the driver returns the payout, the platform its fee.

    For a wallet ride this exactly reverses the settlement. For a cash ride the cash cannot be handed back by the
    ledger, so the passenger is credited in the wallet and the driver owes the payout they kept.
    """
    return [
        Line(wallet_account_id(user_id=ride.passenger_id), EntryKind.REFUND, ride.charged_amount),
        Line(wallet_account_id(user_id=ride.driver_id), EntryKind.REFUND, -ride.driver_payout),
        Line(system_account_id(kind=AccountKind.PLATFORM_REVENUE), EntryKind.REFUND, -ride.admin_fee),
    ]


def ride_refund(*, ride_id: UUID | str, reason: str = "", refunded_by: str | None = None) -> LedgerTransaction:
    """Refund a settled ride in full, once, as a new reversing transaction (nothing posted is ever edited)."""
    with transaction.atomic():
        ride = Ride.objects.select_for_update().get(pk=ride_id)
        if _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.SETTLEMENT) is None:
            raise BillingException(BillingError.RIDE_NOT_SETTLED)
        if _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.REFUND) is not None:
            raise BillingException(BillingError.ALREADY_REFUNDED)
        by = f" by {refunded_by}" if refunded_by else ""
        return _ledger_post(
            purpose=TransactionPurpose.REFUND,
            idempotency_key=f"refund:{ride.pk}",
            ride=ride,
            lines=refund_lines(ride=ride),
            memo=f"refund{by}: {reason}".strip(),
        )


# --- cancellation fees -----------------------------------------------------------------------------------------


def cancellation_fee_lines(*, ride: Ride) -> list[Line]:
    """The fee from the passenger's wallet to the driver's, whatever the payment method: a cash passenger's wallet
    goes negative (an amount owed, collected with a later ride or top-up)."""
    fee = ride.cancellation_fee or 0
    return [
        Line(wallet_account_id(user_id=ride.passenger_id), EntryKind.CANCELLATION_FEE, -fee),
        Line(wallet_account_id(user_id=ride.driver_id), EntryKind.CANCELLATION_FEE, fee),
    ]


def ride_cancellation_fee_post(*, ride: Ride) -> LedgerTransaction:
    """Post the cancellation fee frozen on a cancelled ride, exactly once (idempotency key and the unique
    (ride, purpose) key): a second call returns the first posting. Called inside the cancel's transaction, with the
    ride locked (lock order: ride -> wallets)."""
    existing = _ride_transaction(ride_id=ride.pk, purpose=TransactionPurpose.CANCELLATION_FEE)
    if existing is not None:
        return existing
    return _ledger_post(
        purpose=TransactionPurpose.CANCELLATION_FEE,
        idempotency_key=f"cancellation_fee:{ride.pk}",
        ride=ride,
        lines=cancellation_fee_lines(ride=ride),
        memo=f"{ride.cancel_reason or 'late cancellation'}: {ride.cancellation_fee}",
    )


# --- top-ups --------------------------------------------------------------------------------------------------


def topup_amount_validate(*, amount: object) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise BillingException(
            BillingError.INVALID_AMOUNT,
            "The amount must be a whole number of rupiah.",
            details={"amount": ["Must be an integer."]},
        )
    low, high = settings.WALLET_TOPUP_MIN, settings.WALLET_TOPUP_MAX
    if not low <= amount <= high:
        raise BillingException(
            BillingError.INVALID_AMOUNT,
            f"The amount must be between {low} and {high} IDR.",
            details={"amount": [f"Must be between {low} and {high}."]},
        )


def _topup_record(*, user_id: UUID | str, amount: int, idempotency_key: str) -> TopUp:
    """The top-up for this key: created now, or the earlier one if the amount matches (else 422)."""
    try:
        with transaction.atomic():
            topup, _ = TopUp.objects.get_or_create(
                user_id=user_id, idempotency_key=idempotency_key, defaults={"amount": amount}
            )
    except IntegrityError:  # a concurrent request with the same key won the insert
        topup = TopUp.objects.get(user_id=user_id, idempotency_key=idempotency_key)
    if topup.amount != amount:
        raise BillingException(BillingError.IDEMPOTENCY_KEY_REUSED, details={"amount": topup.amount})
    return topup


def _topup_declined(topup: TopUp) -> BillingException:
    return BillingException(
        BillingError.PAYMENT_DECLINED, topup.failure_reason or None, details={"topup_id": str(topup.pk)}
    )


TOPUP_EXPIRED_REASON = "Expired: the payment provider never confirmed the charge."


def _topup_fail(*, topup_id: UUID | str, reason: str) -> TopUp:
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.status == TopUpStatus.PENDING:
            topup.status, topup.failure_reason, topup.completed_at = TopUpStatus.FAILED, reason[:200], timezone.now()
            topup.save(update_fields=["status", "failure_reason", "completed_at"])
        return topup


def _topup_complete(*, topup_id: UUID | str, reference: str) -> TopUp:
    """Credit the wallet from gateway clearing, once (the top-up row lock and the unique key guard it)."""
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        if topup.status == TopUpStatus.FAILED:
            # Only a charge in flight across the expiry gets here: the money is at the gateway, not in the wallet.
            logger.error(
                "the gateway charged a top-up that had already failed: refund it at the gateway",
                extra={"topup_id": str(topup.pk), "reference": reference},
            )
        if topup.status != TopUpStatus.PENDING:
            return topup
        topup.transaction = _ledger_post(
            purpose=TransactionPurpose.TOPUP,
            idempotency_key=f"topup:{topup.pk}",
            lines=[
                Line(system_account_id(kind=AccountKind.GATEWAY_CLEARING), EntryKind.TOPUP, -topup.amount),
                Line(wallet_account_id(user_id=topup.user_id), EntryKind.TOPUP, topup.amount),
            ],
            memo=f"gateway {reference}",
        )
        topup.status, topup.gateway_reference, topup.completed_at = TopUpStatus.SUCCEEDED, reference, timezone.now()
        topup.save(update_fields=["transaction", "status", "gateway_reference", "completed_at"])
        return topup


def _topup_apply(*, topup_id: UUID | str, result: ChargeResult) -> TopUp:
    """The gateway's decided outcome of the top-up's charge, applied once: credit the wallet, or fail it."""
    if result.succeeded:
        return _topup_complete(topup_id=topup_id, reference=result.reference)
    return _topup_fail(topup_id=topup_id, reason=result.failure_reason or "The payment was declined.")


def _gateway_unavailable(topup: TopUp) -> BillingException:
    return BillingException(BillingError.PAYMENT_GATEWAY_UNAVAILABLE, details={"topup_id": str(topup.pk)})


def _topup_age_over(topup: TopUp, seconds: float) -> bool:
    return topup.created_at <= timezone.now() - timedelta(seconds=seconds)


def topup_create(*, user_id: UUID | str, amount: int, idempotency_key: str) -> TopUp:
    """Charge the gateway and credit the wallet. The same key again returns the same top-up, credited once.

    The charge happens outside any database transaction; a pending top-up (a crash or timeout after recording
    it) is resumed by the next request with the same key, relying on the gateway's own idempotency, or resolved
    by the sweeper (topup_resolve). Past BILLING_TOPUP_MAX_PENDING_SECONDS a retry no longer charges: it only
    asks the gateway, so that no charge is still in flight when the sweeper expires the top-up.
    """
    topup_amount_validate(amount=amount)
    topup = _topup_record(user_id=user_id, amount=amount, idempotency_key=idempotency_key)
    if topup.status == TopUpStatus.PENDING and _topup_age_over(topup, settings.BILLING_TOPUP_MAX_PENDING_SECONDS):
        topup = topup_resolve(topup_id=topup.pk)
        if topup.status == TopUpStatus.PENDING:
            raise _gateway_unavailable(topup)
    if topup.status == TopUpStatus.SUCCEEDED:
        return topup
    if topup.status == TopUpStatus.FAILED:
        raise _topup_declined(topup)
    try:
        result = get_payment_gateway().charge(amount=topup.amount, user_id=user_id, idempotency_key=str(topup.pk))
    except GatewayUnavailable as exc:
        logger.warning("payment gateway unavailable", extra={"topup_id": str(topup.pk), "error": str(exc)})
        raise _gateway_unavailable(topup) from exc
    topup = _topup_apply(topup_id=topup.pk, result=result)
    if topup.status == TopUpStatus.FAILED:
        raise _topup_declined(topup)
    return topup


def topup_resolve(*, topup_id: UUID | str) -> TopUp:
    """Settle a pending top-up from the gateway's record of its charge, without charging: succeeded -> the wallet
    is credited (once: the top-up row lock), failed -> failed. When the gateway cannot tell (unreachable, or no
    decided charge under the key) it stays pending, until a minute past the window in which a retry may still
    charge: then it is failed with a reason and a warning (operators check the gateway's own records)."""
    topup = TopUp.objects.get(pk=topup_id)
    if topup.status != TopUpStatus.PENDING:
        return topup
    try:
        result = get_payment_gateway().charge_status(idempotency_key=str(topup.pk))
    except GatewayUnavailable as exc:
        logger.info(
            "payment gateway unavailable for a status query", extra={"topup_id": str(topup.pk), "error": str(exc)}
        )
        result = None
    if result is not None:
        return _topup_apply(topup_id=topup.pk, result=result)
    expires_after = settings.BILLING_TOPUP_MAX_PENDING_SECONDS + settings.BILLING_TOPUP_RESOLVE_AFTER_SECONDS
    if _topup_age_over(topup, expires_after):
        logger.warning(
            "top-up expired: the payment gateway never confirmed its charge",
            extra={"topup_id": str(topup.pk), "user_id": str(topup.user_id), "amount": topup.amount},
        )
        return _topup_fail(topup_id=topup.pk, reason=TOPUP_EXPIRED_REASON)
    return topup
