"""Scenarios 3 (dispatch) and 4 (settlement): they need the Celery worker (started as `manage.py runstack` does)."""

import io
import json
import math
import os
import random
import socket
import time
import uuid
from datetime import timedelta
from typing import Any

from bench import fixtures, stack
from bench.harness import LoadGens, ms, pct
from bench.report import _fmt, _med, _spread, table


def _ensure_worker(bench):
    if bench.stack.worker is None:
        commands = bench.stack.start_worker()
        bench.worker_command = "` and `".join(
            " ".join(part if i else "python" for i, part in enumerate(command)) for command in commands
        )


# --- 3. dispatch ----------------------------------------------------------------------------------------------


def _requests_close_open(passenger_ids):
    """Leftovers of an earlier run (a request whose proposal never came): cancel them through the service."""
    from accounts.models import User
    from matching.models import RideRequest
    from matching.services import request_cancel

    users = {str(u.pk): u for u in User.objects.filter(pk__in=passenger_ids)}
    for request in RideRequest.objects.filter(passenger_id__in=passenger_ids, is_open=True):
        request_cancel(request_id=request.pk, passenger=users[str(request.passenger_id)], reason="bench cleanup")


def scenario_dispatch(bench, run_no):
    """10k online drivers in the live index; `dispatch_sockets` of them hold real sockets. Each passenger's pickup is
    its own socket driver's position, so that driver is the nearest and always in the first batch (the other two of
    the batch are index-only drivers: their proposals are made and pushed the same way, nobody listens). A passenger
    posts a request, waits for the proposal to reach its driver's socket, cancels, and is free again."""
    args = bench.args
    drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=args.dispatch_online, driver=True)
    passengers = fixtures.users_ensure(prefix=fixtures.PASSENGER_PREFIX, count=args.dispatch_sockets, driver=False)
    port = bench.start_server("uvicorn")
    _ensure_worker(bench)
    try:
        for rate in args.dispatch_rates:
            _requests_close_open(passengers)
            fixtures.redis_reset()
            fixtures.beacons_on(drivers)
            rng = random.Random(1000 * run_no + rate)
            points = {driver: fixtures.random_point(rng) for driver in drivers}
            fixtures.positions_load(points)
            socket_drivers = drivers[: args.dispatch_sockets]
            config = {
                "mode": "dispatch",
                "host": "127.0.0.1",
                "port": port,
                "driver_tokens": fixtures.tokens_for(socket_drivers),
                "passenger_tokens": fixtures.tokens_for(passengers),
                "pickups": [points[driver] for driver in socket_drivers],
                "rate": rate,
                "warmup": args.warmup,
                "duration": args.duration,
                "connect_concurrency": 50,
            }
            gens = LoadGens([config], bench.env, f"dispatch-{rate}")
            try:
                gens.expect("READY")
                metered = bench.metered_window(gens, args.warmup, args.duration)
                gens.expect("DONE", timeout=60)
                result = gens.results()[0]
            finally:
                gens.kill()
            latencies = result["latencies"]
            run = {
                "rate_offered": rate,
                "online": len(drivers),
                "sockets": result["connected"],
                "proposals_in_window": len(latencies),
                "requests_per_s": round(len(latencies) / result["window_s"], 1),
                "p50_ms": ms(pct(latencies, 0.5)),
                "p99_ms": ms(pct(latencies, 0.99)),
                "max_ms": ms(max(latencies) if latencies else None),
                "outcomes": result["outcomes"],
                **metered,
            }
            bench.record(f"3:{rate}/s", "uvicorn", run)
    finally:
        bench.stack.stop_server()
        _requests_close_open(passengers)


def report_dispatch(bench, keys):
    rows = []
    for key, runs in sorted(keys, key=lambda item: int(item[0][0][2:-2])):
        rows.append(
            (
                key[0][2:],
                _fmt(_med(runs, "requests_per_s")),
                f"{_fmt(_med(runs, 'p50_ms'))} ({_spread(runs, 'p50_ms')})",
                f"{_fmt(_med(runs, 'p99_ms'))} ({_spread(runs, 'p99_ms')})",
                _fmt(_med(runs, "max_ms")),
                _fmt(_med(runs, "server_cores")),
                _fmt(_med(runs, "worker_cores")),
                _fmt(_med(runs, "redis_cores")),
                _fmt(_med(runs, "loadgen_cores")),
                _fmt(_med(runs, "other_cores")),
                _fmt(_med(runs, "steal_cores")),
                "; ".join(f"{k}: {v}" for k, v in _merged(run["outcomes"] for run in runs).items()),
            )
        )
    return [
        "## 3. Dispatch",
        "",
        f"{bench.args.dispatch_online:,} online drivers in the live index (spread over Jakarta), "
        f"{bench.args.dispatch_sockets} of them with a socket. Latency: `POST /api/v1/rides/requests` sent → "
        "`match.proposal` read on the driver's socket (same process, same clock). The path, all in the "
        "POST's own transaction: surge quote (its supply search also picks the first batch), fare, request row, "
        "match rows and event rows; after the one commit, the push through the Redis pub/sub channel layer to "
        "the server process holding the socket (Celery only when nobody was near). "
        "Requests are started at a fixed rate (open loop); each passenger cancels once its proposal arrives.",
        "",
        table(
            [
                "offered",
                "proposals/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server cores",
                "worker cores",
                "Redis cores",
                "load gen cores",
                "other programs' cores",
                "host steal cores",
                "outcomes",
            ],
            rows,
        ),
        "",
    ]


def _merged(dicts):
    merged: dict[str, Any] = {}
    for counts in dicts:
        for k, v in counts.items():
            merged[k] = merged.get(k, 0) + v
    return merged


# --- 4. settlement --------------------------------------------------------------------------------------------


def completed_rides_create(count, *, drivers, passengers, seed):
    """`count` completed, unsettled rides (request, match and ride rows, bulk), half cash, half wallet."""
    from django.db import transaction
    from django.utils import timezone

    from matching.models import Match, MatchStatus, PaymentMethod, RequestStatus, RideRequest
    from rides.fare import metered_fare
    from rides.models import Ride, RideStatus

    rng = random.Random(seed)
    now = timezone.now()
    requests, matches, rides = [], [], []
    for i in range(count):
        driver, passenger = drivers[i % len(drivers)], passengers[i % len(passengers)]
        lat, lng = fixtures.random_point(rng)
        distance_m = rng.uniform(800, 15_000)
        fare = metered_fare(distance_m=distance_m, surge_multiplier=1)  # the meter's formula, minimum fare included
        pct_ = rng.choice([100, 100, 100, 90, 75])
        charged = fare * pct_ // 100
        fee = charged * 5 // 100
        method = PaymentMethod.WALLET if i % 2 else PaymentMethod.CASH
        request = RideRequest(
            id=uuid.uuid4(),
            passenger_id=passenger,
            status=RequestStatus.CONFIRMED,
            pickup_lat=lat,
            pickup_lng=lng,
            destination_lat=lat + 0.03,
            destination_lng=lng,
            payment_method=method,
            estimate_distance_m=round(distance_m),
            estimate_amount=fare,
            is_open=False,
            batch_no=1,
            radius_m=1000,
        )
        match = Match(
            id=uuid.uuid4(),
            request=request,
            driver_id=driver,
            status=MatchStatus.CONFIRMED,
            batch_no=1,
            distance_to_pickup_m=300,
            expires_at=now,
            holds_driver=False,
            responded_at=now,
        )
        rides.append(
            Ride(
                id=uuid.uuid4(),
                request=request,
                match=match,
                driver_id=driver,
                passenger_id=passenger,
                status=RideStatus.COMPLETED,
                pickup_lat=lat,
                pickup_lng=lng,
                destination_lat=lat + 0.03,
                destination_lng=lng,
                payment_method=method,
                surge_multiplier=1,
                distance_m=distance_m,
                price_pct=pct_,
                metered_fare=fare,
                charged_amount=charged,
                admin_fee=fee,
                driver_payout=charged - fee,
                started_at=now - timedelta(minutes=20),
                ended_at=now,
            )
        )
        requests.append(request)
        matches.append(match)
    with transaction.atomic():
        RideRequest.objects.bulk_create(requests, batch_size=1000)
        Match.objects.bulk_create(matches, batch_size=1000)
        Ride.objects.bulk_create(rides, batch_size=1000)
    return [str(ride.id) for ride in rides]


def scenario_settlement(bench, run_no):
    """Completed rides (bulk-made) are settled on the Celery worker in two ways, each phase with fresh rides:
    - per ride: one `billing.tasks.settle_ride` task each, as `rides.services` queues it when a ride ends, plus a
      duplicate for every 10th ride (at-least-once delivery);
    - batched: `billing.tasks.settle_rides` tasks of BILLING_SETTLE_CHUNK ride ids (the sweeper's path, one commit
      per chunk, each ride still its own keyed ledger transaction), every 10th chunk published twice.
    After each phase `manage.py reconcile_ledger` must find the ledger clean and each ride must hold exactly one
    settlement."""
    from django.conf import settings

    from billing.tasks import settle_ride, settle_rides

    def per_ride(ride_ids):
        for i, ride_id in enumerate(ride_ids):
            settle_ride.delay(ride_id)
            if i % 10 == 0:
                settle_ride.delay(ride_id)
        return len(ride_ids) + math.ceil(len(ride_ids) / 10)

    def batched(ride_ids):
        size = settings.BILLING_SETTLE_CHUNK
        chunks = [ride_ids[i : i + size] for i in range(0, len(ride_ids), size)]
        for i, chunk in enumerate(chunks):
            settle_rides.delay(chunk)
            if i % 10 == 0:
                settle_rides.delay(chunk)
        return len(chunks) + math.ceil(len(chunks) / 10)

    _settlement_phase(bench, run_no, "celery", per_ride)
    _settlement_phase(bench, 1000 + run_no, "celery-batch", batched)


def _celery_app():
    from nebengjek.celery import app

    return app


def _broker_drained(deadline):
    """Wait until the default Celery queue is empty and nothing is unacknowledged (or the deadline passes)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    while time.perf_counter() < deadline:
        if client.llen("celery") == 0 and not _unacked_on_celery_queue(client):
            return True
        time.sleep(0.05)
    return False


def _unacked_on_celery_queue(client):
    """Reserved, unacknowledged messages of the default queue (matching's countdown tasks wait in the same hash)."""
    return any(json.loads(value)[2] == "celery" for value in client.hvals("unacked"))


def _settlement_phase(bench, seed, key, publish):
    from django.core.management import CommandError, call_command
    from django.db.models import Count

    from billing.models import LedgerTransaction, TransactionPurpose

    args = bench.args
    drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=200, driver=True)
    passengers = fixtures.users_ensure(prefix=fixtures.PASSENGER_PREFIX, count=200, driver=False)
    _ensure_worker(bench)
    ride_ids = completed_rides_create(args.rides, drivers=drivers, passengers=passengers, seed=seed)
    settled = LedgerTransaction.objects.filter(purpose=TransactionPurpose.SETTLEMENT, ride_id__in=ride_ids)
    # The messages are queued while the worker does not consume, then it drains them: rides/s is the worker's rate,
    # not that of the harness' one publishing thread (~1-2 ms a message here, about the worker's own cost).
    app, worker_name = _celery_app(), [f"default@{socket.gethostname()}"]  # runstack's `-n default@%h`
    app.control.cancel_consumer("celery", destination=worker_name, reply=True, limit=1, timeout=5)
    t_publish = time.perf_counter()
    tasks = publish(ride_ids)
    publish_s = time.perf_counter() - t_publish
    worker = stack.CpuMeter(bench.stack.worker_processes).start()
    machine = stack.MachineMeter().start()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    app.control.add_consumer("celery", destination=worker_name, reply=True, limit=1, timeout=5)
    deadline = t0 + args.settle_timeout
    done = 0
    while time.perf_counter() < deadline:
        done = settled.count()
        if done >= len(ride_ids):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    drained = _broker_drained(deadline)  # the tail: messages of rides a chunk already settled, run as no-ops
    drained_s = time.perf_counter() - t0 if drained else None
    worker.stop(), machine.stop()
    out = io.StringIO()
    try:
        call_command("reconcile_ledger", stdout=out)
        clean = True
    except CommandError as exc:
        clean = False
        out.write(str(exc))
    doubles = (
        LedgerTransaction.objects.filter(ride_id__in=ride_ids, purpose=TransactionPurpose.SETTLEMENT)
        .values("ride_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    run = {
        "rides": len(ride_ids),
        "tasks": tasks,
        "settled": done,
        "seconds": round(elapsed, 2),
        "publish_s": round(publish_s, 2),
        "all_messages_done_s": round(drained_s, 2) if drained_s else None,
        "messages_per_s": round(tasks / drained_s) if drained_s else None,
        "rides_per_s": round(done / elapsed) if elapsed else None,
        "worker_cores": round(worker.cores, 2),
        "worker_cpu_ms_per_ride": round(worker.seconds * 1000 / done, 2) if done else None,
        "other_cores": round(max(0.0, machine.busy_cores - worker.cores), 2),
        "steal_cores": round(machine.steal_cores, 2),
        "load_avg_1m": round(load_before, 1),
        "reconcile_clean": clean,
        "rides_settled_twice": doubles,
        "exactly_once": clean and doubles == 0 and done == len(ride_ids),
        "reconcile_output": out.getvalue().strip().splitlines()[:3],
    }
    bench.record("4", key, run)


def report_settlement(bench, keys):
    paths = {
        "celery": "per ride: `settle_ride` task each (+10 % duplicates)",
        "celery-batch": "batched: `settle_rides` tasks of BILLING_SETTLE_CHUNK ids (+10 % duplicate chunks)",
    }
    rows = [
        (
            paths.get(key[1], key[1]),
            _fmt(run["rides"]),
            _fmt(run["rides_per_s"]),
            run["seconds"],
            run.get("publish_s", "–"),
            run.get("all_messages_done_s") or "–",
            _fmt(run.get("messages_per_s")),
            run["worker_cores"],
            run.get("worker_cpu_ms_per_ride", "–"),
            run["other_cores"],
            run.get("steal_cores", "–"),
            run.get("load_avg_1m", "–"),
            "clean" if run["reconcile_clean"] else "**NOT clean**",
            run["rides_settled_twice"],
            "yes" if run["exactly_once"] else "**no**",
        )
        for key, runs in keys
        for run in runs
    ]
    return [
        "## 4. Settlement",
        "",
        f"{bench.args.rides:,} completed rides per phase (half cash, half wallet) made in bulk, then published to "
        "the broker two ways (fresh rides each): one `billing.tasks.settle_ride` task per ride, as a ride's end "
        "queues it, and `billing.tasks.settle_rides` tasks of a chunk of ride ids (the sweeper's path: one "
        "commit per chunk, each ride still its own ledger transaction and key). The Celery worker (runstack's "
        "command, prefork, concurrency CELERY_CONCURRENCY) settles them. The messages are published while the "
        "worker does not consume (Celery `cancel_consumer`; *publishing s*: the harness' one thread), then "
        "`add_consumer`. Time: `add_consumer` → the last settlement visible in the database "
        "(*all messages done*: the queue empty, the per-ride tasks of rides "
        "an earlier task's chunk settled having run as no-ops). Then `manage.py reconcile_ledger` runs.",
        "",
        table(
            [
                "path",
                "rides",
                "rides/s",
                "seconds",
                "publishing s",
                "all messages done s",
                "messages/s",
                "worker cores",
                "worker CPU ms/ride",
                "other programs' cores",
                "host steal cores",
                "load avg 1 min",
                "reconcile_ledger",
                "settled twice",
                "exactly once",
            ],
            rows,
        ),
        "",
        f"worker: `{getattr(bench, 'worker_command', '')}`",
        "",
    ]
