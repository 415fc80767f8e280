from django.urls import path

from billing import apis

urlpatterns = [
    path("rides/<uuid:ride_id>/receipt", apis.RideReceiptApi.as_view(), name="ride-receipt"),
    path("wallet", apis.WalletApi.as_view(), name="wallet"),
    path("wallet/transactions", apis.WalletTransactionListApi.as_view(), name="wallet-transactions"),
    path("wallet/topups", apis.WalletTopUpApi.as_view(), name="wallet-topups"),
]
