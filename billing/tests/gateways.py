"""Stand-ins for the payment gateway (the outside world), chosen with settings.PAYMENT_GATEWAY in tests."""

from billing.gateways import ChargeResult, GatewayUnavailable, PaymentGateway


class DecliningGateway(PaymentGateway):
    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(False, failure_reason="Card declined.")

    def charge_status(self, *, idempotency_key):
        return ChargeResult(False, failure_reason="Card declined.")


class DownGateway(PaymentGateway):
    def charge(self, *, amount, user_id, idempotency_key):
        raise GatewayUnavailable("timeout")

    def charge_status(self, *, idempotency_key):
        raise GatewayUnavailable("timeout")


class LostAnswerGateway(PaymentGateway):
    """Decides the first charge of a key (the money moves), then times out before the answer reaches us.

    Idempotent like a real gateway: a repeated charge with the same key, or a status query, tells the recorded
    outcome. State is class-wide (a gateway is built per call); `reset()` before each test."""

    outcome = ChargeResult(True, reference="gw_lost_answer")
    charges: dict[str, ChargeResult] = {}
    charge_calls = 0
    status_calls = 0
    status_down = False

    @classmethod
    def reset(cls, *, outcome=None, status_down=False):
        cls.outcome = outcome or ChargeResult(True, reference="gw_lost_answer")
        cls.charges, cls.charge_calls, cls.status_calls, cls.status_down = {}, 0, 0, status_down

    def charge(self, *, amount, user_id, idempotency_key):
        type(self).charge_calls += 1
        if idempotency_key in self.charges:
            return self.charges[idempotency_key]
        self.charges[idempotency_key] = self.outcome
        raise GatewayUnavailable("read timeout after the charge was made")

    def charge_status(self, *, idempotency_key):
        type(self).status_calls += 1
        if self.status_down:
            raise GatewayUnavailable("status endpoint timed out")
        return self.charges.get(idempotency_key)
