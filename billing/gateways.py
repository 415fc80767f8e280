"""Payment gateways for wallet top-ups: the outside world, chosen by settings.PAYMENT_GATEWAY (a dotted path).

A gateway charges the user's external payment method. It must be idempotent on `idempotency_key`: a retried
charge with the same key returns the first outcome and never charges twice (real gateways offer this).
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


class TestGateway(PaymentGateway):
    """Development and tests: every charge succeeds, with a reference derived from the key."""

    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(True, reference="test_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24])


class UnconfiguredGateway(PaymentGateway):
    """Production default until a real gateway is configured: declines, so no money is ever invented."""

    def charge(self, *, amount, user_id, idempotency_key):
        return ChargeResult(False, failure_reason="No payment gateway is configured.")


def get_payment_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()
