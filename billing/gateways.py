"""Payment gateways for wallet top-ups: the outside world, chosen by settings.PAYMENT_GATEWAY (a dotted path).

A gateway charges the user's external payment method. It must be idempotent on `idempotency_key`: a retried
charge with the same key returns the first outcome and never charges twice (real gateways offer this). It also
answers, by the same key, how a charge ended (`charge_status`): the sweeper asks it about top-ups whose charge
answer was lost.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str = ""
    failure_reason: str = ""


class GatewayUnavailable(Exception):
    """The gateway could not be reached or gave no answer: the outcome is unknown, retry with the same key."""


class PaymentGateway:
    def charge(self, *, amount: int, user_id, idempotency_key: str) -> ChargeResult:
        raise NotImplementedError

    def charge_status(self, *, idempotency_key: str) -> ChargeResult | None:
        """How the charge made with this key ended, asked without charging: a ChargeResult once the gateway has
        decided it; None when it cannot tell (no charge under this key, or still processing). Raises
        GatewayUnavailable when it cannot be asked."""
        raise NotImplementedError


class TestGateway(PaymentGateway):
    """Development and tests: every charge succeeds, with a reference derived from the key."""

    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(True, reference=self._reference(idempotency_key))

    def charge_status(self, *, idempotency_key):
        # Stateless: every key counts as charged, as a charge with it would have been.
        return ChargeResult(True, reference=self._reference(idempotency_key))

    @staticmethod
    def _reference(idempotency_key: str) -> str:
        return "test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class UnconfiguredGateway(PaymentGateway):
    """Production default until a real gateway is configured: declines, so no money is ever invented."""

    failure_reason = "No payment gateway is configured."

    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(False, failure_reason=self.failure_reason)

    def charge_status(self, *, idempotency_key):
        return ChargeResult(False, failure_reason=self.failure_reason)


def get_payment_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()
