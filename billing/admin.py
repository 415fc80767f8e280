"""Operators' view of the ledger: everything read-only; the one write is the refund action (a new transaction)."""

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from billing import selectors, services
from billing.models import (
    CancellationFee,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    RideMoney,
    TopUp,
    TransactionPurpose,
)
from nebengjek import display
from nebengjek.admin import ReadOnlyAdmin, ReadOnlyInline
from nebengjek.admin_fields import money_field
from nebengjek.errors import DomainError
from rides.admin import RideDisplay
from rides.models import Ride


def _admin_link(obj, label=None):
    try:
        url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(label or obj)
    return format_html('<a href="{}">{}</a>', url, label or obj)


def _refund(modeladmin, request, ride_ids):
    done = 0
    for ride_id in ride_ids:
        try:
            services.ride_refund(ride_id=ride_id, reason="admin refund", refunded_by=request.user.get_username())
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"Ride {ride_id}: {exc.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"Refunded {done} ride(s).", messages.SUCCESS)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "user", "current_balance", "created_at"]
    list_filter = ["kind"]
    search_fields = ["user__msisdn", "user__full_name", "user__id"]
    list_select_related = ["user"]
    exclude = ["balance"]
    readonly_fields = ["current_balance"]

    @admin.display(description="balance")
    def current_balance(self, account):
        """A wallet's cached balance; a system account's sum of entries (it keeps no cached balance)."""
        return display.rupiah(selectors.account_balance(account=account))


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "kind", "signed_amount"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    signed_amount = money_field("amount", "amount", signed=True)


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "purpose", "ride_link", "entry_count", "memo", "created_at"]
    list_filter = ["purpose", "created_at"]
    search_fields = ["id", "ride__id", "idempotency_key"]
    fields = ["id", "purpose", "idempotency_key", "ride_link", "entry_count", "memo", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    inlines = [LedgerEntryInline]
    actions = ["refund_rides"]

    @admin.display(description="ride")
    def ride_link(self, txn):
        if txn.ride_id is None:
            return "-"
        return _admin_link(RideMoney(pk=txn.ride_id), label=str(txn.ride_id))

    @admin.action(description="Refund the rides of the selected settlements")
    def refund_rides(self, request, queryset):
        _refund(self, request, queryset.filter(purpose=TransactionPurpose.SETTLEMENT).values_list("ride_id", flat=True))


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "kind", "signed_amount"]
    fields = ["transaction", "account", "kind", "signed_amount"]
    signed_amount = LedgerEntryInline.signed_amount
    list_filter = ["kind", "account__kind"]
    search_fields = ["transaction__id", "account__user__msisdn"]
    list_select_related = ["transaction", "account__user"]


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "user",
        "amount_idr",
        "status",
        "failure_reason",
        "gateway_reference",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "user__msisdn", "gateway_reference", "idempotency_key"]
    list_select_related = ["user"]
    exclude = ["amount"]
    readonly_fields = ["amount_idr"]
    amount_idr = money_field("amount", "amount")


@admin.register(RideMoney)
class RideMoneyAdmin(RideDisplay, ReadOnlyAdmin):
    """Each ride with its frozen amounts and links to its ledger transactions; refund from here."""

    list_display = [
        "id",
        "status",
        "payment_method",
        "charged",
        "admin_fee_idr",
        "driver_payout_idr",
        "ended_at",
        "transactions",
    ]
    list_filter = ["status", "payment_method", "ended_at"]
    search_fields = ["id", "driver__msisdn", "passenger__msisdn"]
    fields = [
        "id",
        "status",
        "driver",
        "passenger",
        "payment_method",
        "distance",
        "surge_multiplier",
        "metered_fare_idr",
        "price_pct",
        "charged",
        "admin_fee_idr",
        "driver_payout_idr",
        "ended_at",
        "ride_admin",
        "transactions",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names
    actions = ["refund_rides"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("ledger_transactions")

    @admin.display(description="ledger")
    def transactions(self, ride):
        return (
            format_html_join(
                ", ", "{}", ((_admin_link(txn, label=txn.purpose),) for txn in ride.ledger_transactions.all())
            )
            or "-"
        )

    @admin.display(description="ride (rides admin)")
    def ride_admin(self, ride):
        return _admin_link(Ride(pk=ride.pk), label="open")

    @admin.action(description="Refund the selected rides (a new reversing transaction)")
    def refund_rides(self, request, queryset):
        _refund(self, request, list(queryset.values_list("pk", flat=True)))


@admin.register(CancellationFee)
class CancellationFeeAdmin(ReadOnlyAdmin):
    """The report of cancellation fees: each posting (who paid whom, why), the totals of what the list shows."""

    list_display = ["created_at", "ride_link", "reason", "fee", "payer", "payee"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    search_fields = ["ride__id", "ride__passenger__msisdn", "ride__driver__msisdn"]
    fields = ["idempotency_key", "ride_link", "reason", "fee", "payer", "payee", "memo", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # flat field names

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(purpose=TransactionPurpose.CANCELLATION_FEE)
            .select_related("ride__passenger", "ride__driver")
        )

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        if changelist is not None:
            context["report"] = selectors.cancellation_fee_report(transactions=changelist.queryset)
        return response

    @admin.display(description="ride")
    def ride_link(self, txn):
        return _admin_link(Ride(pk=txn.ride_id), label=str(txn.ride_id)) if txn.ride_id else "-"

    @admin.display(description="reason")
    def reason(self, txn):
        return "no-show" if txn.ride and txn.ride.cancel_reason == "no_show" else "late cancellation"

    @admin.display(description="fee")
    def fee(self, txn):
        return display.rupiah(txn.ride.cancellation_fee) if txn.ride and txn.ride.cancellation_fee else "-"

    @admin.display(description="paid by (passenger)")
    def payer(self, txn):
        return str(txn.ride.passenger) if txn.ride else "-"

    @admin.display(description="paid to (driver)")
    def payee(self, txn):
        return str(txn.ride.driver) if txn.ride else "-"
