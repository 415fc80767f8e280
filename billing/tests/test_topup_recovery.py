"""Top-ups whose gateway answer was lost: the sweeper asks the gateway and completes or fails each one exactly once."""

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import User
from accounts.tests.factories import make_passenger
from billing import tasks
from billing.gateways import ChargeResult
from billing.models import LedgerTransaction, TopUp
from billing.selectors import ledger_findings, wallet_balance
from billing.tests.gateways import LostAnswerGateway
from tests.reliability.parallel import at_once

MAX_AGE = timedelta(seconds=django_settings.BILLING_TOPUP_MAX_PENDING_SECONDS)
A_MINUTE = timedelta(seconds=django_settings.BILLING_TOPUP_RESOLVE_AFTER_SECONDS + 1)
PAST_THE_SWEEPERS_MAX_AGE = MAX_AGE + A_MINUTE


@pytest.fixture
def t0():
    """When the lost top-ups are recorded: a moment from now, after the clients' tokens (issued on the real clock)."""
    return datetime.now(UTC) + timedelta(seconds=5)


@pytest.fixture
def lost_answer(settings):
    """The gateway charges, then times out; it tells the outcome when asked later."""
    LostAnswerGateway.reset()
    settings.PAYMENT_GATEWAY = "billing.tests.gateways.LostAnswerGateway"
    return LostAnswerGateway


def _topup(client, amount=50_000, key="key-1"):
    return client.post("/api/v1/wallet/topups", {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _topup_lost(client, *, at, amount=50_000, key="key-1"):
    with time_machine.travel(at, tick=False):
        response = _topup(client, amount, key)
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "payment_gateway_unavailable"
    return TopUp.objects.get(pk=response.json()["error"]["details"]["topup_id"])


def _sweep(at):
    with time_machine.travel(at, tick=False):
        return tasks.resolve_pending_topups()


def test_a_charge_whose_answer_was_lost_is_credited_once_by_the_sweeper(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)
    assert TopUp.objects.get(pk=topup.pk).status == "pending" and wallet_balance(user_id=client.user.pk) == 0

    _sweep(t0 + A_MINUTE)

    topup.refresh_from_db()
    assert topup.status == "succeeded" and topup.gateway_reference == "gw_lost_answer"
    assert wallet_balance(user_id=client.user.pk) == 50_000
    assert LedgerTransaction.objects.filter(purpose="topup").count() == 1
    assert lost_answer.charge_calls == 1  # the sweeper asks; it never charges
    assert ledger_findings().is_clean


def test_a_second_sweep_and_a_client_retry_after_the_sweeper_change_nothing(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)
    _sweep(t0 + A_MINUTE)

    _sweep(t0 + A_MINUTE + timedelta(minutes=1))
    retry = _topup(client)

    assert retry.status_code == 201 and retry.json()["id"] == str(topup.pk) and retry.json()["status"] == "succeeded"
    assert wallet_balance(user_id=client.user.pk) == 50_000
    assert LedgerTransaction.objects.filter(purpose="topup").count() == 1
    assert ledger_findings().is_clean


def test_a_charge_the_gateway_reports_failed_fails_the_topup_and_moves_no_money(client_for, lost_answer, t0):
    lost_answer.reset(outcome=ChargeResult(False, failure_reason="Insufficient funds at the bank."))
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)

    _sweep(t0 + A_MINUTE)
    retry = _topup(client)

    topup.refresh_from_db()
    assert topup.status == "failed" and topup.failure_reason == "Insufficient funds at the bank."
    assert retry.status_code == 402 and retry.json()["error"]["code"] == "payment_declined"
    assert wallet_balance(user_id=client.user.pk) == 0
    assert not LedgerTransaction.objects.exists()


def test_a_pending_topup_younger_than_a_minute_is_left_to_the_client(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)

    _sweep(t0 + timedelta(seconds=30))

    assert TopUp.objects.get(pk=topup.pk).status == "pending"
    assert lost_answer.status_calls == 0


@pytest.mark.parametrize("gateway_says", ["unavailable", "no_such_charge"])
def test_a_topup_the_gateway_cannot_tell_about_stays_pending_for_the_next_run(
    client_for, lost_answer, gateway_says, t0
):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)
    lost_answer.status_down = gateway_says == "unavailable"
    if gateway_says == "no_such_charge":
        lost_answer.charges.clear()

    _sweep(t0 + A_MINUTE)

    assert TopUp.objects.get(pk=topup.pk).status == "pending"
    assert wallet_balance(user_id=client.user.pk) == 0


def test_a_topup_still_unknown_past_the_maximum_age_is_failed_with_a_reason_and_a_warning(
    client_for, lost_answer, caplog, t0
):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)
    lost_answer.status_down = True

    with caplog.at_level(logging.WARNING, logger="billing.services"):
        _sweep(t0 + PAST_THE_SWEEPERS_MAX_AGE)

    topup.refresh_from_db()
    assert topup.status == "failed" and "never confirmed" in topup.failure_reason
    assert any(
        record.levelno == logging.WARNING and getattr(record, "topup_id", None) == str(topup.pk)
        for record in caplog.records
    )
    assert wallet_balance(user_id=client.user.pk) == 0


def test_a_retry_after_the_maximum_age_asks_the_gateway_instead_of_charging(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)

    with time_machine.travel(t0 + MAX_AGE + timedelta(seconds=1)):
        retry = _topup(client_for(client.user))  # a fresh sign-in a day later

    assert retry.status_code == 201 and retry.json()["id"] == str(topup.pk)
    assert lost_answer.charge_calls == 1 and lost_answer.status_calls == 1
    assert wallet_balance(user_id=client.user.pk) == 50_000


def test_the_sweeper_resolves_a_bounded_batch_per_run_oldest_first(client_for, lost_answer, settings, t0):
    settings.BILLING_TOPUP_SWEEP_BATCH = 2
    client = client_for(make_passenger())
    oldest, older, newest = [_topup_lost(client, key=f"k{n}", at=t0 + timedelta(seconds=n)) for n in range(3)]

    first = _sweep(t0 + A_MINUTE + timedelta(seconds=2))
    statuses_after_first = [TopUp.objects.get(pk=topup.pk).status for topup in (oldest, older, newest)]
    second = _sweep(t0 + A_MINUTE + timedelta(minutes=1))

    assert (first, second) == (2, 1)
    assert statuses_after_first == ["succeeded", "succeeded", "pending"]
    assert TopUp.objects.get(pk=newest.pk).status == "succeeded"
    assert wallet_balance(user_id=client.user.pk) == 150_000


def test_reconcile_lists_topups_pending_past_the_maximum_age(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    topup = _topup_lost(client, at=t0)

    with time_machine.travel(t0 + 2 * MAX_AGE, tick=False), pytest.raises(CommandError) as failed:
        call_command("reconcile_ledger", stdout=(out := io.StringIO()))

    assert "top-ups pending past the maximum age: 1" in out.getvalue() and str(topup.pk) in out.getvalue()
    assert "NOT clean" in str(failed.value)


def test_operators_see_a_topups_status_and_failure_reason_in_the_admin(client_for, lost_answer, t0):
    lost_answer.reset(outcome=ChargeResult(False, failure_reason="Insufficient funds at the bank."))
    _topup_lost(client_for(make_passenger()), at=t0)
    _sweep(t0 + A_MINUTE)
    operator = Client()
    operator.force_login(User.objects.create_superuser("+628119999999", password="not-used"))

    page = operator.get("/admin/billing/topup/?status__exact=failed").content.decode()

    assert "Insufficient funds at the bank." in page and "failed" in page


@pytest.mark.skipif(
    django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="row locks and concurrent writers need PostgreSQL; SQLite serializes all writers",
)
def test_the_sweeper_and_a_client_retry_at_once_credit_the_wallet_once(client_for, lost_answer, t0):
    client = client_for(make_passenger())
    for n in range(15):
        _topup_lost(client, key=f"race-{n}", at=t0)

        with time_machine.travel(t0 + A_MINUTE, tick=True):
            swept, retry = at_once(tasks.resolve_pending_topups, lambda n=n: _topup(client, key=f"race-{n}"))

        assert not isinstance(swept, BaseException), swept
        assert retry.status_code == 201 and retry.json()["status"] == "succeeded", retry.content
        assert wallet_balance(user_id=client.user.pk) == 50_000 * (n + 1)
    assert LedgerTransaction.objects.filter(purpose="topup").count() == 15
    assert ledger_findings().is_clean
