from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.errors import BillingError, BillingException
from billing.serializers import (
    ReceiptOutputSerializer,
    TopUpInputSerializer,
    TopUpOutputSerializer,
    WalletOutputSerializer,
    WalletTransactionOutputSerializer,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 100


def idempotency_key_from(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise BillingException(BillingError.IDEMPOTENCY_KEY_REQUIRED)
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        raise BillingException(
            BillingError.INVALID_IDEMPOTENCY_KEY,
            f"The Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX_LENGTH} printable characters.",
        )
    return key


class RideReceiptApi(APIView):
    @extend_schema(responses={200: ReceiptOutputSerializer})
    def get(self, request, ride_id):
        receipt = selectors.ride_receipt_get(ride_id=ride_id, user_id=request.user.pk)
        return Response(ReceiptOutputSerializer(receipt).data)


class WalletApi(APIView):
    @extend_schema(responses={200: WalletOutputSerializer})
    def get(self, request):
        balance = selectors.wallet_balance(user_id=request.user.pk)
        return Response(WalletOutputSerializer({"balance": balance, "currency": "IDR"}).data)


class WalletTransactionListApi(ListAPIView):
    """A page of the caller's wallet entries; a ListAPIView so that the schema documents the page."""

    serializer_class = WalletTransactionOutputSerializer

    def get_queryset(self):
        return selectors.wallet_entry_list(user_id=self.request.user.pk)  # type: ignore[arg-type]  # authenticated


class WalletTopUpApi(APIView):
    @extend_schema(
        request=TopUpInputSerializer,
        responses={201: TopUpOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)],
    )
    def post(self, request):
        key = idempotency_key_from(request)
        data = TopUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        topup = services.topup_create(
            user_id=request.user.pk, amount=data.validated_data["amount"], idempotency_key=key
        )
        return Response(TopUpOutputSerializer(topup).data, status=status.HTTP_201_CREATED)
