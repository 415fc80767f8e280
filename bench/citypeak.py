"""Scenario 7, city peak: whole rides open loop at rising rates against the real server, its Celery workers,
PostgreSQL and Redis (issue 22). One server and one load generator process for all the rates, in order; each rate is
a phase: `warmup` s of arrivals, `duration` s metered, then a drain for the rides still under way.

What a ride is (bench/loadgen.py `run_citypeak`): POST /api/v1/rides/requests at an idle driver's position → the
drivers' sockets read `match.proposal` and answer `match.accept` → the passenger of the request a driver won POSTs
confirm → the driver POSTs start → `ride_locations` positions over the driver's socket (acked) → the driver POSTs end →
the passenger GETs the receipt and POSTs a rating. Idle drivers stream their position every few seconds.
"""

import os
import random
import time

import psutil

from bench import fixtures, stack
from bench.harness import LoadGens, ms, pct
from bench.report import _fmt, table


def _database_name():
    url = os.environ.get("DATABASE_URL", "")
    return url.rsplit("/", 1)[-1].split("?")[0] if url.startswith("postgres") else None


def postgres_backends():
    """The PostgreSQL backend processes serving the bench's database (their command line names it), on this host."""
    name = _database_name()
    if not name:
        return []
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if cmdline.startswith("postgres: ") and f" {name} " in f" {cmdline} ":
            found.append(process)
    return found


class GrowingCpuMeter:
    """CPU seconds of a set of processes that changes during the window (database backends open as the server's
    connections do): the set is read again at stop, and a process first seen then counts from its start."""

    def __init__(self, processes_fn):
        self.processes_fn = processes_fn

    def start(self):
        self.before = {p.pid: stack._cpu(p) for p in self.processes_fn()}
        self.t0 = time.perf_counter()
        self.started_at = time.time()
        return self

    def stop(self):
        used = 0.0
        for process in self.processes_fn():
            now = stack._cpu(process)
            if process.pid in self.before:
                used += max(0.0, now - self.before[process.pid])
            else:
                try:
                    alive_s = time.time() - process.create_time()
                except psutil.NoSuchProcess:
                    continue
                window_s = time.time() - self.started_at
                used += now * min(1.0, window_s / alive_s) if alive_s > 0 else now
        self.elapsed = time.perf_counter() - self.t0
        self.seconds = used
        return used

    @property
    def cores(self):
        return self.seconds / self.elapsed if self.elapsed else 0.0


def _rides_close_open(driver_ids, passenger_ids):
    """Leftovers of an earlier run: end the rides under way, cancel the rest through the services."""
    from accounts.models import User
    from matching.models import RideRequest
    from matching.services import request_cancel
    from nebengjek.errors import DomainError
    from rides.models import Ride, RideStatus
    from rides.services import ride_cancel, ride_end

    users = {str(u.pk): u for u in User.objects.filter(pk__in=[*driver_ids, *passenger_ids])}
    for ride in Ride.objects.filter(
        driver_id__in=driver_ids, status__in=[RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS]
    ):
        try:
            if ride.status == RideStatus.IN_PROGRESS:
                ride_end(ride=ride, user=users[str(ride.driver_id)])
            else:
                ride_cancel(ride=ride, reason="bench cleanup")
        except DomainError:  # moved on meanwhile (the load generator ended or cancelled it)
            pass
    for request in RideRequest.objects.filter(passenger_id__in=passenger_ids, is_open=True):
        try:
            request_cancel(request_id=request.pk, passenger=users[str(request.passenger_id)], reason="bench cleanup")
        except DomainError:  # closed meanwhile (no driver, expired)
            pass


def scenario_citypeak(bench, run_no):
    from bench.scenarios_more import _ensure_worker

    args = bench.args
    drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=args.city_drivers, driver=True)
    passengers = fixtures.users_ensure(prefix=fixtures.PASSENGER_PREFIX, count=args.city_passengers, driver=False)
    _rides_close_open(drivers, passengers)
    fixtures.redis_reset()
    fixtures.beacons_on(drivers)
    rng = random.Random(2200 + run_no)
    points = {driver: fixtures.random_point(rng) for driver in drivers}
    fixtures.positions_load(points)
    port = bench.start_server("uvicorn")
    _ensure_worker(bench)
    phases = [
        {"rate": rate, "warmup": args.city_warmup, "duration": args.city_duration, "drain": args.city_drain}
        for rate in args.city_rates
    ]
    config = {
        "mode": "citypeak",
        "host": "127.0.0.1",
        "port": port,
        "driver_tokens": fixtures.tokens_for(drivers),
        "driver_positions": [points[d] for d in drivers],
        "passenger_tokens": fixtures.tokens_for(passengers),
        "phases": phases,
        "proposal_timeout": args.city_proposal_timeout,
        "ride_locations": 3,
        "location_interval": 0.25,
        "stream_interval": 5.0,
        "connect_concurrency": 50,
    }
    gens = LoadGens([config], bench.env, "citypeak")
    metered = []
    try:
        for index, phase in enumerate(phases):
            gens.expect("READY")
            if index:  # rides the last phase's drain gave up on: closed, so their users are free again
                _rides_close_open(drivers, passengers)
            postgres = GrowingCpuMeter(postgres_backends).start()
            metered.append(bench.metered_window(gens, phase["warmup"], phase["duration"]))
            postgres.stop()
            metered[-1]["postgres_cores"] = round(postgres.cores, 2)
            metered[-1]["postgres_cpu_s"] = round(postgres.seconds, 2)
            metered[-1]["worker_cpu_s"] = round(metered[-1]["worker_cores"] * phase["duration"], 2)
        result = gens.results()[0]
        reference = bare_reference(bench, port, config["passenger_tokens"][:4])
    finally:
        gens.kill()
        bench.stack.stop_server()
        _rides_close_open(drivers, passengers)
    for phase, part, meter in zip(phases, result["phases"], metered, strict=True):
        bench.record(f"7:{phase['rate']}/s", "uvicorn", citypeak_row(phase, part, meter, len(drivers)))
    bench.record("7:reference", "uvicorn", reference)


def bare_reference(bench, port, tokens):
    """The floor, on the same server right after the rates: `GET /ping` (Django's whole stack, no query), 4
    connections closed loop; its server CPU per request times a ride's ~10 calls is what any ride costs here."""
    seconds = max(3.0, bench.args.city_duration / 2)
    gens = LoadGens(
        [
            {
                "mode": "http",
                "host": "127.0.0.1",
                "port": port,
                "tokens": tokens,
                "paths": ["/ping"],
                "warmup": 1.0,
                "duration": seconds,
            }
        ],
        bench.env,
        "citypeak-ping",
    )
    try:
        gens.expect("READY")
        meter = bench.metered_window(gens, 1.0, seconds)
        gens.expect("DONE", timeout=60)
        result = gens.results()[0]
    finally:
        gens.kill()
    done = result["requests"]
    return {
        "ping_per_s": round(done / result["window_s"]),
        "ping_p50_ms": ms(result["latency"].get("p50")),
        "ping_server_cpu_ms": round(meter["server_cpu_s"] * 1000 / done, 2) if done else None,
        "server_cores": meter["server_cores"],
        "other_cores": meter["other_cores"],
    }


def citypeak_row(phase, part, meter, drivers):
    """One rate's figures: see docs (the scenario's output format) for each key."""
    window = phase["duration"]
    latencies = part["proposal_latencies"]
    completed = part["completed_in_window"]
    outcomes, counts = part["outcomes"], part["counts"]
    server_ms = meter["server_cpu_s"] * 1000
    pg_ms = meter["postgres_cpu_s"] * 1000
    worker_ms = meter["worker_cpu_s"] * 1000

    def per_ride(value):
        return round(value / completed, 1) if completed else None

    return {
        "offered_per_s": round(part["offered_in_window"] / window, 1),
        "drivers": drivers,
        "completed_per_s": round(completed / window, 1),
        "proposal_p50_ms": ms(pct(latencies, 0.5)),
        "proposal_p99_ms": ms(pct(latencies, 0.99)),
        "proposals_measured": len(latencies),
        "unmatched": outcomes.get("unmatched", 0),
        "shed_503": outcomes.get("shed_503", 0),
        "http_5xx": counts.get("http_5xx", 0) + counts.get("socket_5xx", 0),
        "proposals_after_expiry": counts.get("proposals_after_expiry", 0),
        "server_cpu_ms_per_ride": per_ride(server_ms),
        "postgres_cpu_ms_per_ride": per_ride(pg_ms),
        "server_and_postgres_cpu_ms_per_ride": per_ride(server_ms + pg_ms),
        "worker_cpu_ms_per_ride": per_ride(worker_ms),
        "loadgen_cores": meter["loadgen_cores"],
        "server_cores": meter["server_cores"],
        "postgres_cores": meter["postgres_cores"],
        "worker_cores": meter["worker_cores"],
        "redis_cores": meter["redis_cores"],
        "other_cores": meter["other_cores"],
        "steal_cores": meter["steal_cores"],
        "in_flight_at_end": part["in_flight_at_end"],
        "not_done_after_drain": part["not_done_after_drain"],
        "sockets_open": part["sockets_open"],
        "socket_close_codes": part["socket_close_codes"],
        "outcomes": outcomes,
        "counts": counts,
    }


def report_citypeak(bench, keys):
    rows = []
    references = [run for key, runs in keys if key[0] == "7:reference" for run in runs]
    keys = [(key, runs) for key, runs in keys if key[0] != "7:reference"]
    for key, runs in sorted(keys, key=lambda item: int(item[0][0][2:-2])):
        for run in runs:
            rows.append(
                (
                    key[0][2:],
                    _fmt(run["offered_per_s"]),
                    _fmt(run["completed_per_s"]),
                    f"{_fmt(run['proposal_p50_ms'])} / {_fmt(run['proposal_p99_ms'])}",
                    run["unmatched"],
                    run["shed_503"],
                    run["http_5xx"],
                    run["proposals_after_expiry"],
                    _fmt(run["server_cpu_ms_per_ride"]),
                    _fmt(run["postgres_cpu_ms_per_ride"]),
                    _fmt(run["server_and_postgres_cpu_ms_per_ride"]),
                    _fmt(run["worker_cpu_ms_per_ride"]),
                    _fmt(run["server_cores"]),
                    _fmt(run["postgres_cores"]),
                    _fmt(run["worker_cores"]),
                    _fmt(run["loadgen_cores"]),
                    _fmt(run["steal_cores"]),
                    "; ".join(f"{k}: {v}" for k, v in sorted(run["outcomes"].items())),
                )
            )
    return [
        "## 7. City peak: whole rides",
        "",
        f"{bench.args.city_drivers} drivers on sockets (streaming positions), {bench.args.city_passengers} "
        "passengers over HTTP; requests started open loop at each rate; each ride runs request → proposal → "
        "accept (socket) → confirm → start → 3 positions (socket) → end → receipt → rating. Proposal latency: "
        "the POST sent → the first `match.proposal` read on any driver's socket. CPU per ride: the metered "
        "window's CPU seconds / the rides completed (ended) in that window; PostgreSQL: the backends of the "
        "bench's database.",
        "",
        table(
            [
                "rate",
                "offered/s",
                "completed/s",
                "request→proposal p50 / p99 ms",
                "unmatched",
                "shed 503",
                "5xx",
                "proposals after expiry",
                "server CPU ms/ride",
                "PostgreSQL CPU ms/ride",
                "server + PG ms/ride",
                "Celery worker ms/ride",
                "server cores",
                "PG cores",
                "worker cores",
                "load gen cores",
                "steal cores",
                "outcomes",
            ],
            rows,
        ),
        "",
        "Reference, the same server right after the rates: `GET /ping` (Django's whole stack, no query), 4 "
        "connections closed loop: "
        + "; ".join(
            f"{run['ping_per_s']}/s, p50 {run['ping_p50_ms']} ms, server CPU {run['ping_server_cpu_ms']} ms a "
            f"request (server cores {run['server_cores']}, other programs' cores {run['other_cores']})"
            for run in references
        )
        + ".",
        "",
    ]
