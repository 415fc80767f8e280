"""Killed worker (issue 9, item 5): completed rides settled by a real Celery worker that is SIGKILLed again and
again mid-settlement, then restarted. Afterwards every ride is settled exactly once, every transaction sums to
zero and reconcile_ledger is clean.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python tests/reliability/killed_worker.py \
        --rides 1000 --kills 5 --redis-port 6507

The database is migrated and used as is (use a scratch one); Redis is a private redis-server on --redis-port.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability.procs import RedisServer, Worker, django_env  # noqa: E402

VISIBILITY_TIMEOUT = 5  # seconds before a message a dead worker held is delivered again
STALL_SECONDS = 3 * VISIBILITY_TIMEOUT + 5  # no settlement for this long: what is left needs the sweeper


def make_completed_rides(count, *, people=20):
    """`count` completed, unsettled rides (cash and wallet, varied fares) between `people` pairs of users."""
    from accounts.tests.factories import make_driver, make_passenger
    from billing.tests.factories import make_completed_ride

    run = random.randrange(10**5)  # numbers unique to this run: the database may hold earlier runs' users
    passengers = [make_passenger(msisdn=f"+62812{run:05d}{i:03d}") for i in range(people)]
    drivers = [
        make_driver(user__msisdn=f"+62813{run:05d}{i:03d}", vehicle_plate=f"B {i + 1} R{run % 26 + 10:X}")
        for i in range(people)
    ]
    ride_ids = []
    for i in range(count):
        ride = make_completed_ride(
            passenger=passengers[i % people],
            driver=drivers[i % people],
            payment_method="wallet" if i % 2 else "cash",
            metered_fare=3000 + 37 * i,
            price_pct=50 + i % 51,
        )
        ride_ids.append(str(ride.pk))
    return ride_ids


def enqueue_settlements(broker_url, ride_ids):
    """Publish one settle_ride message per ride straight to the broker (as ride_end does after its commit)."""
    from celery import Celery

    publisher = Celery("publisher", broker=broker_url, set_as_current=False)
    with publisher.connection_for_write() as connection:
        for ride_id in ride_ids:
            publisher.send_task("billing.tasks.settle_ride", args=[ride_id], connection=connection)


def settled_count(ride_ids):
    from billing.models import LedgerTransaction, TransactionPurpose

    return LedgerTransaction.objects.filter(ride_id__in=ride_ids, purpose=TransactionPurpose.SETTLEMENT).count()


def ledger_verdict(ride_ids):
    from django.db.models import Count, Sum

    from billing.models import LedgerEntry, LedgerTransaction, TransactionPurpose
    from billing.selectors import ledger_findings

    per_ride = (
        LedgerTransaction.objects.filter(ride_id__in=ride_ids, purpose=TransactionPurpose.SETTLEMENT)
        .values("ride_id")
        .annotate(n=Count("id"))
    )
    counts = [row["n"] for row in per_ride]
    unbalanced = LedgerEntry.objects.values("transaction_id").annotate(total=Sum("amount")).exclude(total=0).count()
    findings = ledger_findings(settle_grace_seconds=0)
    return {
        "rides": len(ride_ids),
        "settled_once": sum(1 for n in counts if n == 1),
        "settled_twice_or_more": sum(1 for n in counts if n > 1),
        "unsettled": len(ride_ids) - len(counts),
        "unbalanced_transactions": unbalanced,
        "sum_of_all_entries": findings.ledger_total,
        "reconcile_clean": findings.is_clean,
    }


def task_log_counts(log_path):
    """settle_ride deliveries received and runs finished, from the workers' logs: received beyond the rides are
    messages that a killed worker held and that the broker delivered again."""
    lines = [line for line in Path(log_path).read_text(errors="replace").splitlines() if "settle_ride[" in line]
    return sum(1 for line in lines if "received" in line), sum(1 for line in lines if "succeeded" in line)


def kill_while_settling(*, env, ride_ids, kills, log_path, timeout):
    """Start a worker; each time another slice of the rides is settled, SIGKILL it and start a new one. Then wait
    until all are settled or nothing moves for STALL_SECONDS (a message lost with a killed worker)."""
    total = len(ride_ids)
    step = max(1, total // (kills + 2))
    killed_at = []
    worker = Worker(env, log_path).start()
    started = time.monotonic()
    try:
        while len(killed_at) < kills and time.monotonic() - started < timeout:
            done = settled_count(ride_ids)
            if done >= step * (len(killed_at) + 1):
                worker.kill()
                killed_at.append(done)
                worker = Worker(env, log_path).start()
            time.sleep(0.02)
        last, moved = settled_count(ride_ids), time.monotonic()
        while last < total and time.monotonic() - started < timeout and time.monotonic() - moved < STALL_SECONDS:
            time.sleep(0.2)
            now_settled = settled_count(ride_ids)
            if now_settled != last:
                last, moved = now_settled, time.monotonic()
        elapsed = time.monotonic() - started
    finally:
        worker.stop()
    return killed_at, elapsed


def sweep(*, env, broker_url, ride_ids, log_path, timeout):
    """What beat does every minute in production: billing.tasks.settle_unsettled_rides, on a fresh worker."""
    from celery import Celery

    worker = Worker(env, log_path).start()
    try:
        Celery("publisher", broker=broker_url, set_as_current=False).send_task("billing.tasks.settle_unsettled_rides")
        deadline = time.monotonic() + timeout
        while settled_count(ride_ids) < len(ride_ids) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()


def run(*, rides, kills, redis_port, database_url=None, timeout=300, log_path=None):
    """The whole scenario; returns the figures. Django must already be set up on the same database."""
    log_path = log_path or f"/tmp/nj-killed-worker-{os.getpid()}.log"
    Path(log_path).write_text("")
    with RedisServer(redis_port) as broker:
        env = django_env(
            REDIS_URL=broker.url,
            CELERY_TASK_ALWAYS_EAGER="false",
            CELERY_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
            LOG_LEVEL="INFO",
            **({"DATABASE_URL": database_url} if database_url else {}),
        )
        t0 = time.monotonic()
        ride_ids = make_completed_rides(rides)
        made = time.monotonic() - t0
        enqueue_settlements(broker.url, ride_ids)
        killed_at, elapsed = kill_while_settling(
            env=env, ride_ids=ride_ids, kills=kills, log_path=log_path, timeout=timeout
        )
        left_for_sweeper = len(ride_ids) - settled_count(ride_ids)
        if left_for_sweeper:
            sweep(
                env={**env, "BILLING_SETTLE_GRACE_SECONDS": "0"},
                broker_url=broker.url,
                ride_ids=ride_ids,
                log_path=log_path,
                timeout=60,
            )
    figures = ledger_verdict(ride_ids)
    figures["left_for_the_sweeper"] = left_for_sweeper
    received, succeeded = task_log_counts(log_path)
    figures.update(
        {
            "kills": len(killed_at),
            "settled_when_killed": killed_at,
            "seconds_to_settle_all": round(elapsed, 1),
            "seconds_to_make_rides": round(made, 1),
            "deliveries_received": received,
            "runs_succeeded": succeeded,
            "worker_log": log_path,
        }
    )
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rides", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--redis-port", type=int, default=6507)
    parser.add_argument("--timeout", type=int, default=300)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        sys.exit("set DATABASE_URL to a scratch PostgreSQL database")
    os.environ.update({"REDIS_URL": f"redis://127.0.0.1:{args.redis_port}/0", "CELERY_TASK_ALWAYS_EAGER": "false"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    figures = run(rides=args.rides, kills=args.kills, redis_port=args.redis_port, timeout=args.timeout)
    print(json.dumps(figures, indent=2))
    ok = (
        figures["settled_once"] == args.rides
        and figures["unbalanced_transactions"] == 0
        and figures["reconcile_clean"]
        and figures["kills"] == args.kills
    )
    print("killed_worker:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
