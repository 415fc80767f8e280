from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import make_passenger
from billing import tasks
from billing.models import LedgerTransaction
from billing.selectors import ledger_findings, wallet_balance
from billing.services import ride_settle, topup_create
from billing.tests.factories import entries_by_party, make_completed_ride
from nebengjek.errors import DomainError
from tests.reliability.parallel import raised, run_parallel


def test_cash_ride_at_75_percent_takes_the_fee_from_the_driver():
    ride = make_completed_ride(
        metered_fare=3336, price_pct=75, payment_method="cash", charged_amount=2502, admin_fee=125, driver_payout=2377
    )

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {"driver": ("admin_fee", -125), "platform": ("admin_fee", 125)}
    assert wallet_balance(user_id=ride.driver_id) == -125
    assert wallet_balance(user_id=ride.passenger_id) == 0


def test_wallet_ride_at_75_percent_moves_charge_payout_and_fee():
    ride = make_completed_ride(
        metered_fare=3336, price_pct=75, payment_method="wallet", charged_amount=2502, admin_fee=125, driver_payout=2377
    )
    topup_create(user_id=ride.passenger_id, amount=10_000, idempotency_key="k1")

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {
        "passenger": ("ride_payment", -2502),
        "driver": ("ride_payout", 2377),
        "platform": ("admin_fee", 125),
    }
    assert wallet_balance(user_id=ride.passenger_id) == 10_000 - 2502
    assert wallet_balance(user_id=ride.driver_id) == 2377


def test_wallet_ride_of_10000_at_80_percent_settles_8000_400_7600():
    ride = make_completed_ride(
        metered_fare=10_000,
        price_pct=80,
        payment_method="wallet",
        charged_amount=8000,
        admin_fee=400,
        driver_payout=7600,
    )

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {
        "passenger": ("ride_payment", -8000),
        "driver": ("ride_payout", 7600),
        "platform": ("admin_fee", 400),
    }


def test_cash_ride_of_10000_at_80_percent_charges_the_driver_400():
    ride = make_completed_ride(
        metered_fare=10_000, price_pct=80, payment_method="cash", charged_amount=8000, admin_fee=400, driver_payout=7600
    )

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {"driver": ("admin_fee", -400), "platform": ("admin_fee", 400)}


def test_a_final_charge_above_the_balance_leaves_the_wallet_negative():
    ride = make_completed_ride(metered_fare=20_000, price_pct=100, payment_method="wallet")
    topup_create(user_id=ride.passenger_id, amount=10_000, idempotency_key="k1")

    ride_settle(ride_id=ride.id)

    assert wallet_balance(user_id=ride.passenger_id) == -10_000
    assert ledger_findings().is_clean


def test_settling_twice_posts_one_transaction():
    ride = make_completed_ride(payment_method="wallet")

    first = ride_settle(ride_id=ride.id)
    second = ride_settle(ride_id=ride.id)

    assert first.pk == second.pk
    assert LedgerTransaction.objects.filter(ride=ride).count() == 1
    assert wallet_balance(user_id=ride.driver_id) == ride.driver_payout


def test_the_task_redelivered_settles_once():
    ride = make_completed_ride(payment_method="wallet")

    tasks.settle_ride.delay(str(ride.id))
    tasks.settle_ride.delay(str(ride.id))

    assert LedgerTransaction.objects.filter(ride=ride).count() == 1


def test_the_cheapest_cash_ride_settles_a_fee_of_1():
    ride = make_completed_ride(metered_fare=3000, price_pct=1, payment_method="cash")  # 30 charged, fee floor(1.5)

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {"driver": ("admin_fee", -1), "platform": ("admin_fee", 1)}


def test_the_cheapest_wallet_ride_settles_charge_payout_and_fee():
    ride = make_completed_ride(metered_fare=3000, price_pct=1, payment_method="wallet")

    txn = ride_settle(ride_id=ride.id)

    assert entries_by_party(txn, ride=ride) == {
        "passenger": ("ride_payment", -30),
        "driver": ("ride_payout", 29),
        "platform": ("admin_fee", 1),
    }


def test_a_ride_frozen_with_no_fee_is_never_an_empty_ledger_transaction():
    # Only a ride priced before the minimum fare can have nothing to move: it is refused, and listed for operators
    ride = make_completed_ride(metered_fare=10, price_pct=100, payment_method="cash")  # fee floor(0.5) = 0

    with pytest.raises(DomainError) as refused:
        ride_settle(ride_id=ride.id)
    tasks.settle_ride.delay(str(ride.id))
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        swept = tasks.settle_unsettled_rides()
        findings = ledger_findings()

    assert refused.value.code == "nothing_to_settle" and refused.value.status == 409
    assert swept == 0 and not LedgerTransaction.objects.exists()
    assert findings.unsettled_rides == [str(ride.id)]


def test_a_ride_that_is_not_completed_is_not_settled():
    ride = make_completed_ride(status="in_progress")

    with pytest.raises(DomainError) as raised:
        ride_settle(ride_id=ride.id)

    assert raised.value.code == "invalid_ride_state"
    assert not LedgerTransaction.objects.exists()


def test_sweeper_settles_a_ride_whose_task_was_lost():
    ride = make_completed_ride(payment_method="wallet")  # built directly: no task was ever enqueued

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        settled = tasks.settle_unsettled_rides()

    assert settled == 1
    assert LedgerTransaction.objects.get(ride=ride).purpose == "settlement"


def test_sweeper_leaves_a_just_ended_ride_to_its_own_task():
    make_completed_ride(payment_method="wallet")

    settled = tasks.settle_unsettled_rides()

    assert settled == 0 and not LedgerTransaction.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks and concurrent writers need PostgreSQL (SQLite serializes every write transaction)",
)
def test_two_threads_settling_the_same_ride_post_one_transaction():
    ride = make_completed_ride(payment_method="wallet")

    results = run_parallel(2, lambda _: ride_settle(ride_id=ride.id).pk)

    assert raised(results) == []
    assert len(set(results)) == 1
    assert LedgerTransaction.objects.filter(ride=ride).count() == 1
    assert wallet_balance(user_id=ride.passenger_id) == -ride.charged_amount
    assert ledger_findings().is_clean


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers need PostgreSQL (SQLite serializes every write transaction)",
)
def test_two_threads_topping_up_with_the_same_key_credit_once():
    passenger = make_passenger()

    results = run_parallel(2, lambda _: topup_create(user_id=passenger.id, amount=10_000, idempotency_key="same").pk)

    assert raised(results) == [] and len(set(results)) == 1
    assert wallet_balance(user_id=passenger.id) == 10_000
