from rest_framework import serializers

from nebengjek.inputs import StrictIntegerField


class WalletOutputSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    currency = serializers.CharField()


class WalletTransactionOutputSerializer(serializers.Serializer):
    """One wallet's side of a ledger transaction."""

    id = serializers.UUIDField(source="transaction_id")
    amount = serializers.IntegerField()
    kind = serializers.CharField()
    ride_id = serializers.UUIDField(source="transaction.ride_id", allow_null=True)
    created_at = serializers.DateTimeField(source="transaction.created_at")


class WholeRupiahField(StrictIntegerField):
    """A JSON integer only: 15000.5, "15000" and true are refused rather than coerced."""


class TopUpInputSerializer(serializers.Serializer):
    amount = WholeRupiahField(help_text="IDR; limits WALLET_TOPUP_MIN..WALLET_TOPUP_MAX (checked by the service)")


class TopUpOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    amount = serializers.IntegerField()
    currency = serializers.SerializerMethodField()
    status = serializers.CharField()
    transaction_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_currency(self, topup) -> str:
        return "IDR"


class SurgeInputsSerializer(serializers.Serializer):
    cell = serializers.CharField(allow_null=True)
    supply = serializers.IntegerField()
    demand = serializers.IntegerField()


class ReceiptLineSerializer(serializers.Serializer):
    kind = serializers.CharField()
    amount = serializers.IntegerField(help_text="IDR")


class ReceiptOutputSerializer(serializers.Serializer):
    ride_id = serializers.UUIDField()
    distance_m = serializers.FloatField()
    distance_capped = serializers.BooleanField()  # the metered distance exceeded the cap: distance_m is the cap
    distance_before_cap_m = serializers.FloatField(allow_null=True)
    metered_fare = serializers.IntegerField()
    surge_multiplier = serializers.FloatField()
    surge_inputs = SurgeInputsSerializer()
    price_pct = serializers.IntegerField()
    charged_amount = serializers.IntegerField()
    admin_fee = serializers.IntegerField()
    driver_payout = serializers.IntegerField()
    payment_method = serializers.CharField()
    currency = serializers.CharField()
    product = serializers.CharField()
    policy_version = serializers.IntegerField(
        help_text="the fare policy version the ride was quoted with (0: built-in)"
    )
    lines = ReceiptLineSerializer(
        many=True,
        help_text="base, distance, time_of_day, surge, minimum_top_up, waiting "
        "and price_adjustment sum to charged_amount; then admin_fee",
    )
    ended_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    refunded_at = serializers.DateTimeField(allow_null=True)
