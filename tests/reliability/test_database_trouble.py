"""Database trouble (issue 9, item 7): a settlement or an accept whose connection dies, or whose statement times
out, in the middle of its transaction leaves nothing half-written, and the retry succeeds. PostgreSQL only.

The point of failure is controlled, not timed: a trigger the test creates makes the service's LAST write (the wallet
balances of a settlement, after its ledger transaction and entries are inserted; the request's status of an accept,
after the match is marked accepted) wait on an advisory lock that a second connection holds. Once that connection
sees the service's backend waiting there, it terminates the backend (`pg_terminate_backend`), or the backend's own
`statement_timeout` cancels the statement.
"""

import queue
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections
from django.db.models import Sum
from django.utils import timezone

from billing.models import LedgerEntry, LedgerTransaction
from billing.services import ride_settle
from matching.models import Match, MatchStatus, RequestStatus, RideRequest
from matching.services import match_accept
from rides.models import RideStatus
from tests.reliability.parallel import _on_postgres
from tests.security.test_authorization_matrix import _match, _request, _ride, world  # noqa: F401

pytestmark = pytest.mark.skipif(
    not _on_postgres(),
    reason="triggers, advisory locks, pg_terminate_backend and statement_timeout are PostgreSQL's (DATABASE_URL)",
)
LOCK_KEY = 914_207  # the advisory lock the trigger waits on


@contextmanager
def writes_block_on(table, event="UPDATE"):
    """Until the block ends, every `event` (UPDATE, INSERT) on `table` waits on an advisory lock held here. Yields
    the controller connection (autocommit), from which the waiting backend is found and terminated."""
    controller = connections.create_connection("default")
    controller.ensure_connection()
    controller.set_autocommit(True)
    with controller.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION nj_test_block() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock({LOCK_KEY}); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER nj_test_block BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION nj_test_block()"
        )
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        yield controller
    finally:
        with controller.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
            cursor.execute(f"DROP TRIGGER IF EXISTS nj_test_block ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS nj_test_block()")
        controller.close()


def wait_until_blocked(controller, pid, bound=30):
    """Bounded wait until backend `pid` waits on the trigger's lock (the service is mid-transaction)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        with controller.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_locks WHERE pid = %s AND locktype = 'advisory' AND NOT granted", [pid])
            if cursor.fetchone():
                return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never reached the blocked write")


def run_interrupted(service, *, table, fault):
    """Run `service()` in a thread with its own connection, stop it at the blocked write by `fault`; return what
    the thread raised or returned."""
    pids, outcome = queue.Queue(), queue.Queue()

    def work():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.put(cursor.fetchone()[0])
                if fault == "statement_timeout":
                    cursor.execute("SET statement_timeout = '300ms'")
            outcome.put(service())
        except BaseException as exc:  # the caller asserts on it
            pids.put(None)
            outcome.put(exc)
        finally:
            try:
                connections.close_all()
            except DatabaseError:
                pass  # the terminated connection

    with writes_block_on(table) as controller:
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        pid = pids.get(timeout=30)
        if fault == "terminate":
            wait_until_blocked(controller, pid)
            with controller.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        result = outcome.get(timeout=30)
    thread.join(30)
    return result


FAULTS = ["terminate", "statement_timeout"]


def unsettled_completed_ride(w):
    return _ride(
        w,
        RideStatus.COMPLETED,
        started_at=timezone.now() - timedelta(minutes=10),
        ended_at=timezone.now(),
        distance_m=1111.95,
        price_pct=100,
        metered_fare=3336,
        charged_amount=3336,
        admin_fee=166,
        driver_payout=3170,
    )


def ledger_rows():
    return LedgerTransaction.objects.count(), LedgerEntry.objects.count()


@pytest.mark.parametrize("fault", FAULTS)
def test_a_settlement_cut_off_mid_transaction_writes_nothing_and_the_retry_settles_once(world, fault):
    ride = unsettled_completed_ride(world)
    before = ledger_rows()

    result = run_interrupted(lambda: ride_settle(ride_id=ride.id), table="billing_ledgeraccount", fault=fault)

    assert isinstance(result, DatabaseError), result
    assert ledger_rows() == before  # neither the transaction nor any of its entries
    assert not LedgerTransaction.objects.filter(ride=ride).exists()
    settled = ride_settle(ride_id=ride.id)
    assert LedgerEntry.objects.filter(transaction=settled).aggregate(total=Sum("amount"))["total"] == 0
    assert LedgerTransaction.objects.filter(ride=ride).count() == 1
    call_command("reconcile_ledger", stdout=open("/dev/null", "w"))


@pytest.mark.parametrize("fault", FAULTS)
def test_an_accept_cut_off_mid_transaction_leaves_the_proposal_open_and_the_retry_wins(world, fault):
    request = _request(world)
    match = _match(world, request)

    result = run_interrupted(
        lambda: match_accept(match_id=match.id, driver=world.driver), table="matching_riderequest", fault=fault
    )

    assert isinstance(result, DatabaseError), result
    match.refresh_from_db()
    request.refresh_from_db()
    assert (match.status, request.status) == (MatchStatus.PENDING, RequestStatus.SEARCHING)
    match_accept(match_id=match.id, driver=world.driver)
    assert Match.objects.get(pk=match.pk).status == MatchStatus.ACCEPTED
    assert RideRequest.objects.get(pk=request.pk).status == RequestStatus.DRIVER_FOUND
