"""Stand-ins for the payment gateway (the outside world), chosen with settings.PAYMENT_GATEWAY in tests."""
from billing.gateways import ChargeResult, GatewayUnavailable, PaymentGateway


class DecliningGateway(PaymentGateway):
    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(False, failure_reason="Card declined.")


class DownGateway(PaymentGateway):
    def charge(self, *, amount, user_id, idempotency_key):
        raise GatewayUnavailable("timeout")
