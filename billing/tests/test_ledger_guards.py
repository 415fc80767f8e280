"""The ledger's invariants hold in the database itself, not only in the services."""

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.tests.factories import make_passenger
from billing.models import AccountKind, LedgerEntry, LedgerTransaction
from billing.selectors import ledger_findings
from billing.services import ride_refund, ride_settle, system_account_id, topup_create, wallet_account_id
from billing.tests.factories import make_completed_ride


def _insert_transaction_sql(*, entry_count, amounts_by_account):
    """Raw SQL, past every service and model check: what a buggy script or a manual fix could write."""
    txn_id = uuid.uuid4()
    db_id = LedgerTransaction._meta.pk.get_db_prep_value(txn_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_ledgertransaction (id, purpose, idempotency_key, entry_count, memo, created_at)"
            " VALUES (%s, 'topup', %s, %s, '', %s)",
            [db_id, f"planted:{txn_id}", entry_count, timezone.now()],
        )
        for account_id, amount in amounts_by_account:
            cursor.execute(
                "INSERT INTO billing_ledgerentry (transaction_id, account_id, kind, amount)"
                " VALUES (%s, %s, 'topup', %s)",
                [db_id, account_id, amount],
            )
    return txn_id


def _plant_unbalanced_transaction(account_id, other_account_id):
    """Get an imbalance past the database guard: PostgreSQL's triggers disabled for one transaction; on SQLite a
    transaction that declares two entries but got only one (the gap a per-row trigger cannot see)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE billing_ledgerentry DISABLE TRIGGER billing_ledgerentry_balanced")
                cursor.execute(
                    "ALTER TABLE billing_ledgertransaction DISABLE TRIGGER billing_ledgertransaction_balanced"
                )
            _insert_transaction_sql(entry_count=2, amounts_by_account=[(account_id, 500), (other_account_id, -400)])
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the queued foreign key checks now
                cursor.execute("ALTER TABLE billing_ledgerentry ENABLE TRIGGER billing_ledgerentry_balanced")
                cursor.execute(
                    "ALTER TABLE billing_ledgertransaction ENABLE TRIGGER billing_ledgertransaction_balanced"
                )
        else:
            _insert_transaction_sql(entry_count=2, amounts_by_account=[(account_id, 100)])


def _reconcile(*args):
    out = StringIO()
    call_command("reconcile_ledger", *args, stdout=out)
    return out.getvalue()


def test_the_database_refuses_a_transaction_whose_entries_do_not_sum_to_zero():
    wallet = wallet_account_id(user_id=make_passenger().id)
    clearing = system_account_id(kind=AccountKind.GATEWAY_CLEARING)

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _insert_transaction_sql(entry_count=2, amounts_by_account=[(wallet, 100), (clearing, -50)])

    assert not LedgerTransaction.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only PostgreSQL can defer the check to COMMIT; "
    "SQLite's per-row trigger cannot see a missing entry (reconcile_ledger reports it)",
)
def test_the_database_refuses_a_transaction_missing_a_declared_entry():
    wallet = wallet_account_id(user_id=make_passenger().id)

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _insert_transaction_sql(entry_count=2, amounts_by_account=[(wallet, 100)])

    assert not LedgerTransaction.objects.exists()


def test_the_database_refuses_a_transaction_with_no_entries():
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _insert_transaction_sql(entry_count=0, amounts_by_account=[])

    assert not LedgerTransaction.objects.exists()


def test_the_database_accepts_a_balanced_transaction_written_by_hand():
    wallet = wallet_account_id(user_id=make_passenger().id)
    clearing = system_account_id(kind=AccountKind.GATEWAY_CLEARING)

    with transaction.atomic():
        _insert_transaction_sql(entry_count=2, amounts_by_account=[(wallet, 100), (clearing, -100)])

    assert LedgerEntry.objects.count() == 2


def test_a_posted_entry_cannot_be_changed_through_the_models():
    topup_create(user_id=make_passenger().id, amount=10_000, idempotency_key="k")
    entry = LedgerEntry.objects.first()

    entry.amount = 1
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(TypeError):
        LedgerEntry.objects.all().delete()
    with pytest.raises(TypeError):
        LedgerTransaction.objects.first().delete()


def test_the_database_refuses_an_update_of_a_posted_entry():
    topup_create(user_id=make_passenger().id, amount=10_000, idempotency_key="k")

    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE billing_ledgerentry SET amount = amount + 1")

    assert sorted(LedgerEntry.objects.values_list("amount", flat=True)) == [-10_000, 10_000]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="on SQLite deletes are refused by the models only (Django's SQLite test flush deletes rows)",
)
def test_the_database_refuses_a_delete_of_a_posted_entry():
    topup_create(user_id=make_passenger().id, amount=10_000, idempotency_key="k")

    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_ledgerentry")

    assert LedgerEntry.objects.count() == 2


def test_reconcile_is_clean_after_settlements_topups_and_a_refund():
    wallet_ride = make_completed_ride(payment_method="wallet", metered_fare=3336, price_pct=75)
    cash_ride = make_completed_ride(payment_method="cash", metered_fare=10_000, price_pct=80)
    topup_create(user_id=wallet_ride.passenger_id, amount=50_000, idempotency_key="k")
    ride_settle(ride_id=wallet_ride.id)
    ride_settle(ride_id=cash_ride.id)
    ride_refund(ride_id=cash_ride.id, reason="driver took a detour")

    output = _reconcile("--grace-seconds", "0")

    assert "checked 4 transactions" in output
    assert "ledger clean" in output


def test_reconcile_fails_on_an_unbalanced_transaction_planted_past_the_guards():
    wallet = wallet_account_id(user_id=make_passenger().id)
    clearing = system_account_id(kind=AccountKind.GATEWAY_CLEARING)
    _plant_unbalanced_transaction(wallet, clearing)

    with pytest.raises(CommandError, match="NOT clean"):
        _reconcile()

    findings = ledger_findings()
    assert [row["sum"] for row in findings.unbalanced_transactions] == [100]
    assert findings.ledger_total == 100


def test_reconcile_fails_when_a_cached_balance_drifts_from_its_entries():
    passenger = make_passenger()
    topup_create(user_id=passenger.id, amount=10_000, idempotency_key="k")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_ledgeraccount SET balance = balance + 7 WHERE user_id = %s",
            [passenger._meta.pk.get_db_prep_value(passenger.id, connection)],
        )

    with pytest.raises(CommandError):
        _reconcile()

    assert ledger_findings().balance_mismatches == [
        {
            "account_id": wallet_account_id(user_id=passenger.id),
            "kind": "wallet",
            "user_id": str(passenger.id),
            "cached": 10_007,
            "entries": 10_000,
        }
    ]


def test_reconcile_fails_on_a_completed_ride_without_a_settlement():
    ride = make_completed_ride()

    with pytest.raises(CommandError):
        _reconcile("--grace-seconds", "0")

    assert ledger_findings(settle_grace_seconds=0).unsettled_rides == [str(ride.id)]


def test_reconcile_allows_a_ride_that_just_ended_to_be_settled_by_its_task():
    make_completed_ride()

    assert "ledger clean" in _reconcile()
