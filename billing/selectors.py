"""Reads of the ledger: wallet balance and history, ride receipts, and the reconciliation findings."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TopUp,
    TopUpStatus,
    TransactionPurpose,
)
from matching.models import PaymentMethod
from nebengjek.queries import one_or_none
from rides.errors import RidesError, RidesException, invalid_ride_state, ride_status_words
from rides.models import Ride, RideStatus

FINDINGS_LIMIT = 1000  # rows listed per kind of finding; the counts are always complete


def wallet_balance(*, user_id: UUID | str) -> int:
    """The user's wallet balance in rupiah (0 before the first movement; negative = owed)."""
    balance = LedgerAccount.objects.filter(user_id=user_id, kind=AccountKind.WALLET).values_list("balance", flat=True)
    return next(iter(balance), 0)


@dataclass(frozen=True)
class WalletAvailability:
    balance: int  # the wallet's balance as posted
    held: int  # the charges of the user's completed wallet rides that settlement has not posted yet

    @property
    def available(self) -> int:
        return self.balance - self.held


def wallet_available(*, user_id: UUID | str) -> WalletAvailability:
    """What the user's wallet can still pay for, in one query: the balance less the charges of completed wallet
    rides not yet settled (settlement runs in the background). A ride still live needs nothing here: its request
    is open, and a passenger with an open request cannot make another."""
    balance = LedgerAccount.objects.filter(user_id=OuterRef("pk"), kind=AccountKind.WALLET).values("balance")[:1]
    settled = LedgerTransaction.objects.filter(ride=OuterRef("pk"), purpose=TransactionPurpose.SETTLEMENT)
    unsettled_charges = (
        Ride.objects.filter(
            passenger_id=OuterRef("pk"), payment_method=PaymentMethod.WALLET, status=RideStatus.COMPLETED
        )
        .exclude(Exists(settled))
        .order_by()
        .values("passenger_id")
        .annotate(total=Sum("charged_amount"))
        .values("total")
    )
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .values(balance=Coalesce(Subquery(balance), 0), held=Coalesce(Subquery(unsettled_charges), 0))
        .first()
    )
    return WalletAvailability(**row) if row else WalletAvailability(balance=0, held=0)


def account_balance(*, account: LedgerAccount) -> int:
    """Any account's balance: a wallet's cached balance, a system account's sum of entries (system accounts keep no
    cached balance: every settlement would lock that one row until its commit, see services)."""
    if account.kind == AccountKind.WALLET:
        return account.balance
    return LedgerEntry.objects.filter(account=account).aggregate(total=Coalesce(Sum("amount"), 0))["total"]


def system_account_balance(*, kind: str) -> int:
    """The platform revenue (admin fees earned) or gateway clearing balance, summed from its entries."""
    account = LedgerAccount.objects.filter(kind=kind, user=None).first()
    return account_balance(account=account) if account is not None else 0


def wallet_entry_list(*, user_id: UUID | str) -> QuerySet[LedgerEntry]:
    """This user's side of every transaction that touched the wallet, newest first."""
    return (
        LedgerEntry.objects.filter(account__user_id=user_id, account__kind=AccountKind.WALLET)
        .select_related("transaction")
        .order_by("-id")
    )


def _ride_visible_to(*, ride_id: UUID | str, user_id: UUID | str) -> Ride:
    ride = one_or_none(
        Ride.objects.select_related("request").filter(pk=ride_id).filter(Q(driver_id=user_id) | Q(passenger_id=user_id))
    )
    if ride is None:
        raise RidesException(RidesError.RIDE_NOT_FOUND)
    return ride


def ride_receipt_get(*, ride_id: UUID | str, user_id: UUID | str) -> dict[str, Any]:
    """The receipt of a completed ride, for its driver or passenger (anyone else: 404)."""
    ride = _ride_visible_to(ride_id=ride_id, user_id=user_id)
    if ride.status != RideStatus.COMPLETED:
        raise invalid_ride_state(
            ride.status, f"A ride has a receipt once it is completed; this one is {ride_status_words(ride.status)}."
        )
    posted = dict(LedgerTransaction.objects.filter(ride=ride).values_list("purpose", "created_at"))
    request = ride.request
    return {
        "ride_id": ride.pk,
        "distance_m": round(ride.distance_m, 2),
        "distance_capped": ride.distance_capped,
        "distance_before_cap_m": (
            round(ride.distance_before_cap_m, 2) if ride.distance_before_cap_m is not None else None
        ),
        "metered_fare": ride.metered_fare,
        "surge_multiplier": float(ride.surge_multiplier),
        "surge_inputs": {
            "cell": request.surge_cell or None,
            "supply": request.surge_supply,
            "demand": request.surge_demand,
        },
        "price_pct": ride.price_pct,
        "charged_amount": ride.charged_amount,
        "admin_fee": ride.admin_fee,
        "driver_payout": ride.driver_payout,
        "payment_method": ride.payment_method,
        "currency": "IDR",
        "product": request.product,
        "policy_version": (ride.fare_lines or {}).get("policy_version", 0),
        "lines": ride_receipt_lines(ride),
        "ended_at": ride.ended_at,
        "settled_at": posted.get(TransactionPurpose.SETTLEMENT),
        "refunded_at": posted.get(TransactionPurpose.REFUND),
    }


def ride_receipt_lines(ride: Ride) -> list[dict[str, Any]]:
    """Every line of the fare (rides.fare.receipt_lines): base, distance, time of day, surge, minimum-fare top-up,
    waiting, the driver's price adjustment (≤ 0), then the admin fee taken from the charge. The lines before the
    admin fee sum to charged_amount; charged_amount − admin_fee is the driver's payout."""
    stored = ride.fare_lines or {"distance": ride.metered_fare}  # a ride ended before fare lines were kept
    charged = {"base": 0, "distance": 0, "time_of_day": 0, "surge": 0, "minimum_top_up": 0, "waiting": 0}
    charged.update({kind: stored[kind] for kind in charged if kind in stored})
    lines = [{"kind": kind, "amount": amount} for kind, amount in charged.items()]
    lines.append({"kind": "price_adjustment", "amount": (ride.charged_amount or 0) - (ride.metered_fare or 0)})
    lines.append({"kind": "admin_fee", "amount": ride.admin_fee})
    return lines


def ride_settlement_id(*, ride_id: UUID | str) -> UUID | None:
    """The id of the ride's settlement, or None. A settlement is never edited or deleted, so a found one is final."""
    return (
        LedgerTransaction.objects.filter(ride_id=ride_id, purpose=TransactionPurpose.SETTLEMENT)
        .values_list("pk", flat=True)
        .first()
    )


def ride_ids_unsettled(*, ended_before: datetime, limit: int = 500) -> list[UUID]:
    """Completed rides that ended before `ended_before` and have no settlement (a lost task, for the sweeper)."""
    settled = LedgerTransaction.objects.filter(ride=OuterRef("pk"), purpose=TransactionPurpose.SETTLEMENT)
    rides = (
        Ride.objects.filter(status=RideStatus.COMPLETED, ended_at__lt=ended_before)
        .exclude(Exists(settled))
        .order_by("ended_at")
    )
    return list(rides.values_list("pk", flat=True)[:limit])


def unsettled_oldest_ended_at() -> datetime | None:
    """When the longest-waiting completed ride without a settlement ended (None when every ride is settled)."""
    settled = LedgerTransaction.objects.filter(ride=OuterRef("pk"), purpose=TransactionPurpose.SETTLEMENT)
    return (
        Ride.objects.filter(status=RideStatus.COMPLETED)
        .exclude(Exists(settled))
        .order_by("ended_at")
        .values_list("ended_at", flat=True)
        .first()
    )


def topup_ids_pending(*, created_before: datetime, limit: int = 100) -> list[UUID]:
    """Top-ups still pending that were recorded before `created_before`, oldest first (for the sweeper)."""
    pending = TopUp.objects.filter(status=TopUpStatus.PENDING, created_at__lt=created_before).order_by("created_at")
    return list(pending.values_list("pk", flat=True)[:limit])


def _stale_topups(*, grace_seconds: float) -> list[dict[str, Any]]:
    """Top-ups still pending after the sweeper should have failed them (is the beat running?)."""
    age = settings.BILLING_TOPUP_MAX_PENDING_SECONDS + settings.BILLING_TOPUP_RESOLVE_AFTER_SECONDS + grace_seconds
    rows = (
        TopUp.objects.filter(status=TopUpStatus.PENDING, created_at__lt=timezone.now() - timedelta(seconds=age))
        .order_by("created_at")
        .values("id", "user_id", "amount", "created_at")[:FINDINGS_LIMIT]
    )
    return [
        {
            "id": str(row["id"]),
            "user_id": str(row["user_id"]),
            "amount": row["amount"],
            "created_at": row["created_at"].isoformat(),
        }
        for row in rows
    ]


@dataclass
class LedgerFindings:
    """What reconcile_ledger found. `is_clean` is the whole verdict; `imbalance` feeds a monitoring gauge."""

    transactions_checked: int = 0
    accounts_checked: int = 0
    completed_rides_checked: int = 0
    ledger_total: int = 0  # the sum of every entry ever: zero in a sound ledger
    unbalanced_transactions: list[dict[str, Any]] = field(default_factory=list)
    balance_mismatches: list[dict[str, Any]] = field(default_factory=list)
    unsettled_rides: list[str] = field(default_factory=list)
    settlements_without_completed_ride: list[str] = field(default_factory=list)
    fee_mismatches: list[dict[str, Any]] = field(default_factory=list)
    stale_topups: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return (
            len(self.unbalanced_transactions)
            + len(self.balance_mismatches)
            + len(self.unsettled_rides)
            + len(self.settlements_without_completed_ride)
            + len(self.fee_mismatches)
            + len(self.stale_topups)
            + (1 if self.ledger_total else 0)
        )

    @property
    def is_clean(self) -> bool:
        return self.problems == 0

    @property
    def imbalance(self) -> int:
        """Rupiah unaccounted for: unbalanced transactions plus cached balances that drifted from their entries."""
        return sum(abs(row["sum"]) for row in self.unbalanced_transactions) + sum(
            abs(row["cached"] - row["entries"]) for row in self.balance_mismatches
        )


def _unbalanced_transactions() -> list[dict[str, Any]]:
    rows = (
        LedgerTransaction.objects.annotate(n=Count("entries"), total=Coalesce(Sum("entries__amount"), 0))
        .exclude(n=F("entry_count"), total=0)
        .values("id", "purpose", "idempotency_key", "entry_count", "n", "total")[:FINDINGS_LIMIT]
    )
    return [
        {
            "id": str(row["id"]),
            "purpose": row["purpose"],
            "key": row["idempotency_key"],
            "declared": row["entry_count"],
            "entries": row["n"],
            "sum": row["total"],
        }
        for row in rows
    ]


def _balance_mismatches() -> list[dict[str, Any]]:
    """Wallets whose cached balance differs from their entries (system accounts keep none; their entries still
    count in `ledger_total`)."""
    rows = (
        LedgerAccount.objects.filter(kind=AccountKind.WALLET)
        .annotate(entries_sum=Coalesce(Sum("entries__amount"), 0))
        .exclude(balance=F("entries_sum"))
        .values("id", "kind", "user_id", "balance", "entries_sum")[:FINDINGS_LIMIT]
    )
    return [
        {
            "account_id": row["id"],
            "kind": row["kind"],
            "user_id": str(row["user_id"] or "") or None,
            "cached": row["balance"],
            "entries": row["entries_sum"],
        }
        for row in rows
    ]


def _settlements_without_completed_ride() -> list[str]:
    rows = (
        LedgerTransaction.objects.filter(purpose=TransactionPurpose.SETTLEMENT)
        .exclude(ride__status=RideStatus.COMPLETED)
        .values_list("id", flat=True)[:FINDINGS_LIMIT]
    )
    return [str(txn_id) for txn_id in rows]


def _fee_mismatches() -> list[dict[str, Any]]:
    """Settlements whose platform-revenue entry differs from the fee frozen on the ride."""
    settlements = LedgerTransaction.objects.filter(purpose=TransactionPurpose.SETTLEMENT).annotate(
        fee_posted=Coalesce(Sum("entries__amount", filter=Q(entries__account__kind=AccountKind.PLATFORM_REVENUE)), 0)
    )
    rows = settlements.exclude(fee_posted=F("ride__admin_fee")).values(
        "id", "ride_id", "fee_posted", "ride__admin_fee"
    )[:FINDINGS_LIMIT]
    return [
        {
            "id": str(row["id"]),
            "ride_id": str(row["ride_id"]),
            "posted": row["fee_posted"],
            "frozen": row["ride__admin_fee"],
        }
        for row in rows
    ]


def ledger_findings(*, settle_grace_seconds: float | None = None) -> LedgerFindings:
    """Check the whole ledger: every transaction sums to zero with all its entries, every cached balance equals
    its entries, every completed ride (ended more than the grace ago) has exactly one settlement, and no top-up
    is still pending past the sweeper's maximum age (plus the same grace)."""
    grace = settings.BILLING_SETTLE_GRACE_SECONDS if settle_grace_seconds is None else settle_grace_seconds
    findings = LedgerFindings(
        transactions_checked=LedgerTransaction.objects.count(),
        accounts_checked=LedgerAccount.objects.count(),
        completed_rides_checked=Ride.objects.filter(status=RideStatus.COMPLETED).count(),
        ledger_total=LedgerEntry.objects.aggregate(total=Coalesce(Sum("amount"), 0))["total"],
    )
    findings.unbalanced_transactions = _unbalanced_transactions()
    findings.balance_mismatches = _balance_mismatches()
    findings.unsettled_rides = [
        str(ride_id)
        for ride_id in ride_ids_unsettled(ended_before=timezone.now() - timedelta(seconds=grace), limit=FINDINGS_LIMIT)
    ]
    findings.settlements_without_completed_ride = _settlements_without_completed_ride()
    findings.fee_mismatches = _fee_mismatches()
    findings.stale_topups = _stale_topups(grace_seconds=grace)
    return findings


def cancellation_fee_report(*, transactions: QuerySet[LedgerTransaction] | None = None) -> dict[str, int]:
    """Totals of the cancellation fees posted (of `transactions`, default all): how many, what the passengers were
    charged (collected), what the drivers were credited (paid), and the split by reason (late cancel or no-show)."""
    txns = transactions if transactions is not None else LedgerTransaction.objects.all()
    txns = txns.filter(purpose=TransactionPurpose.CANCELLATION_FEE)
    entries = LedgerEntry.objects.filter(transaction__in=list(txns.values_list("pk", flat=True)))
    collected = -(entries.filter(amount__lt=0).aggregate(total=Coalesce(Sum("amount"), 0))["total"])
    paid = entries.filter(amount__gt=0).aggregate(total=Coalesce(Sum("amount"), 0))["total"]
    no_shows = txns.filter(ride__cancel_reason="no_show").count()
    return {
        "count": txns.count(),
        "collected": collected,
        "paid": paid,
        "no_shows": no_shows,
        "late_cancellations": txns.count() - no_shows,
    }
