"""The double-entry ledger: accounts, transactions whose entries sum to zero, and wallet top-ups.

Every movement of money is one LedgerTransaction with its LedgerEntry rows (signed integer rupiah). The database
refuses an unbalanced or incomplete transaction (see migrations 0002) and any edit of a posted row.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from nebengjek import display
from rides.models import Ride


class AccountKind(models.TextChoices):
    WALLET = "wallet"  # one per user; negative means the user owes money
    PLATFORM_REVENUE = "platform_revenue"  # admin fees earned by the platform
    GATEWAY_CLEARING = "gateway_clearing"  # money in transit from the payment gateway (the source of top-ups)


SYSTEM_ACCOUNT_KINDS = [AccountKind.PLATFORM_REVENUE, AccountKind.GATEWAY_CLEARING]


class LedgerAccount(models.Model):
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_account"
    )
    # Wallets: cached sum of the account's entries, changed only together with them (reconcile_ledger checks it).
    # System accounts keep 0 here (no hot row locked by every settlement): selectors.account_balance sums entries.
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=AccountKind.WALLET) & Q(user__isnull=False))
                | (Q(kind__in=SYSTEM_ACCOUNT_KINDS) & Q(user__isnull=True)),
                name="ledger_account_wallet_has_user",
            ),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(user__isnull=True), name="ledger_account_one_per_system_kind"
            ),
        ]

    def __str__(self):
        return f"wallet of {self.user}" if self.user_id else self.get_kind_display()


class TransactionPurpose(models.TextChoices):
    SETTLEMENT = "settlement"
    REFUND = "refund"
    TOPUP = "topup"
    CANCELLATION_FEE = "cancellation_fee"  # a late cancellation or a no-show: the passenger pays the driver


class EntryKind(models.TextChoices):
    """What an entry means to its account: the `kind` a wallet's transaction list shows."""

    RIDE_PAYMENT = "ride_payment"
    RIDE_PAYOUT = "ride_payout"
    ADMIN_FEE = "admin_fee"
    TOPUP = "topup"
    REFUND = "refund"
    CANCELLATION_FEE = "cancellation_fee"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are append-only; post a new transaction instead.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only; post a reversing transaction instead.")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never changed or deleted (the database refuses it too on PostgreSQL)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} rows are append-only.")


class LedgerTransaction(AppendOnlyModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=16, choices=TransactionPurpose.choices)
    # "settlement:<ride>", "refund:<ride>", "topup:<top-up id>": posting the same thing twice is refused.
    idempotency_key = models.CharField(max_length=120, unique=True)
    ride = models.ForeignKey(Ride, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions")
    # How many entries belong to it: the database checks that exactly these arrive and sum to zero.
    entry_count = models.PositiveSmallIntegerField()
    memo = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ride", "purpose"], condition=Q(ride__isnull=False), name="ledger_txn_once_per_ride_and_purpose"
            ),
            models.CheckConstraint(
                condition=~Q(purpose__in=["settlement", "refund"]) | Q(ride__isnull=False),
                name="ledger_txn_ride_purpose_has_ride",
            ),
        ]

    def __str__(self):
        return f"{self.purpose} {self.id}"


class LedgerEntry(AppendOnlyModel):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.BigIntegerField()  # signed rupiah: + credits the account, - debits it

    class Meta:
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_entry_amount_not_zero"),
            models.UniqueConstraint(fields=["transaction", "account"], name="ledger_entry_one_per_account"),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="ledger_entry_account_recent")]

    def __str__(self):
        return f"{display.rupiah(self.amount, signed=True)} {self.kind} ({self.account})"


class TopUpStatus(models.TextChoices):
    PENDING = "pending"  # recorded, the gateway not (yet) confirmed: the same key resumes it
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class TopUp(models.Model):
    """A wallet top-up request, keyed by the client's Idempotency-Key (same key, same result, one credit)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups")
    idempotency_key = models.CharField(max_length=100)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=TopUpStatus.choices, default=TopUpStatus.PENDING)
    gateway_reference = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    transaction = models.OneToOneField(
        LedgerTransaction, null=True, blank=True, on_delete=models.PROTECT, related_name="topup"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "top-up"
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="topup_key_once_per_user"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status=TopUpStatus.SUCCEEDED) | Q(transaction__isnull=False),
                name="topup_succeeded_is_posted",
            ),
        ]
        # The sweeper's query: the few pending top-ups, oldest first, without scanning the finished ones.
        indexes = [
            models.Index(fields=["created_at"], condition=Q(status=TopUpStatus.PENDING), name="topup_pending_created")
        ]

    def __str__(self):
        return f"top-up {display.rupiah(self.amount)} ({self.status})"


class RideMoney(Ride):
    """The rides seen from the ledger (operators' admin: settlement, refund)."""

    class Meta:
        proxy = True
        verbose_name = "ride money"
        verbose_name_plural = "ride money"


class CancellationFee(LedgerTransaction):
    """The cancellation fees posted (late cancellations, no-shows): the operators' report of what passengers paid
    and drivers were paid."""

    class Meta:
        proxy = True
        verbose_name = "cancellation fee"
        verbose_name_plural = "cancellation fees"
