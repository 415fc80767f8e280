import pytest

from billing.models import LedgerEntry, LedgerTransaction
from billing.selectors import ledger_findings, wallet_balance
from billing.services import ride_refund, ride_settle, topup_create
from billing.tests.factories import entries_by_party, make_completed_ride
from nebengjek.errors import DomainError


def test_refunding_a_wallet_ride_reverses_its_settlement_in_a_new_transaction():
    ride = make_completed_ride(payment_method="wallet", metered_fare=3336, price_pct=75)
    topup_create(user_id=ride.passenger_id, amount=10_000, idempotency_key="k")
    settlement = ride_settle(ride_id=ride.id)

    refund = ride_refund(ride_id=ride.id, reason="wrong route")

    assert refund.pk != settlement.pk and refund.purpose == "refund"
    assert entries_by_party(refund, ride=ride) == {
        "passenger": ("refund", 2502),
        "driver": ("refund", -2377),
        "platform": ("refund", -125),
    }
    assert entries_by_party(settlement, ride=ride)["passenger"] == ("ride_payment", -2502)  # untouched
    assert wallet_balance(user_id=ride.passenger_id) == 10_000
    assert wallet_balance(user_id=ride.driver_id) == 0


def test_refunding_a_cash_ride_credits_the_passenger_and_the_driver_owes_the_whole_charge():
    ride = make_completed_ride(payment_method="cash", metered_fare=10_000, price_pct=80)
    ride_settle(ride_id=ride.id)

    ride_refund(ride_id=ride.id)

    assert wallet_balance(user_id=ride.passenger_id) == 8000
    assert wallet_balance(user_id=ride.driver_id) == -400 - 7600
    assert ledger_findings().is_clean


def test_a_ride_is_refunded_once():
    ride = make_completed_ride(payment_method="wallet")
    ride_settle(ride_id=ride.id)
    ride_refund(ride_id=ride.id)

    with pytest.raises(DomainError) as raised:
        ride_refund(ride_id=ride.id)

    assert raised.value.code == "already_refunded" and raised.value.status == 409
    assert LedgerTransaction.objects.filter(ride=ride, purpose="refund").count() == 1


def test_an_unsettled_ride_cannot_be_refunded():
    ride = make_completed_ride(payment_method="wallet")

    with pytest.raises(DomainError) as raised:
        ride_refund(ride_id=ride.id)

    assert raised.value.code == "ride_not_settled"
    assert not LedgerEntry.objects.exists()
