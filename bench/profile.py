"""Profile the server under one load with py-spy (`pip install py-spy`), for finding what a scenario's CPU goes to.

    python -m bench.profile ingest --rate 6000 --seconds 10       # one uvicorn worker, 2,000 sockets
    python -m bench.profile nearby --seconds 8                     # GET /drivers/nearby, 100k drivers
    python -m bench.profile dispatch --seconds 10 --rate 20        # the Celery worker under dispatch
    python -m bench.profile citypeak --seconds 10 --rate 20        # server workers under whole rides (scenario 7)

Writes bench/out/profile-<name>.txt (collapsed stacks) and prints the top functions by total and by own time.
"""

import argparse
import collections
import os
import random
import shutil
import subprocess
import sys
import time

from bench import stack
from bench.harness import Bench, LoadGens, parse


def top(collapsed_path, limit=30):
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in open(collapsed_path):
        stacks, _, count_text = line.rstrip().rpartition(" ")
        count = int(count_text)
        samples += count
        frames = stacks.split(";")
        seen = set()
        for frame in frames:
            name = frame.split(" (")[0] + " " + frame.split("/")[-1].rstrip(")") if "(" in frame else frame
            if name not in seen:
                total[name] += count
                seen.add(name)
        own[frames[-1]] += count
    print(f"samples: {samples}")
    print("by total time:")
    for name, count in total.most_common(limit):
        print(f"  {100 * count / samples:5.1f}%  {name}")
    print("by own time:")
    for name, count in own.most_common(limit):
        print(f"  {100 * count / samples:5.1f}%  {name}")


GIL_ONLY: list[str] = []  # --gil: sample only the thread holding the GIL (Python CPU time, not waits)


def spy(pids, seconds, name):
    exe = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    outputs = []
    procs = []
    for pid in pids:
        out = stack.OUT / f"profile-{name}-{pid}.txt"
        outputs.append(out)
        procs.append(
            subprocess.Popen(
                [
                    exe,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--nonblocking",
                    *GIL_ONLY,
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return procs, outputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["ingest", "nearby", "dispatch", "citypeak"])
    parser.add_argument("--rate", type=float, default=6000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", default="uvicorn")
    parser.add_argument("--closed-loop", action="store_true")
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL (CPU, not waits)")
    options = parser.parse_args()
    GIL_ONLY.extend(["--gil"] if options.gil else [])
    bench = Bench(parse(["--runs", "1", "--drivers", str(options.sockets), "--workers", str(options.workers)]))
    bench.machine = {}
    bench.setup()
    from bench import fixtures

    try:
        if options.what == "ingest":
            drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=options.sockets, driver=True)
            fixtures.redis_reset()
            fixtures.beacons_on(drivers)
            rng = random.Random(1)
            start = {driver: fixtures.random_point(rng) for driver in drivers}
            fixtures.positions_load(start)
            tokens = fixtures.tokens_for(drivers)
            port = bench.start_server(options.server)
            phase = {
                "name": "profile",
                "rate": options.rate / 2,
                "warmup": 2,
                "duration": options.seconds,
                "closed_loop": options.closed_loop,
            }
            configs = [
                {
                    "mode": "ingest",
                    "host": "127.0.0.1",
                    "port": port,
                    "ids": [drivers[i] for i in part],
                    "tokens": [tokens[i] for i in part],
                    "positions": [start[drivers[i]] for i in part],
                    "phases": [phase],
                }
                for part in (range(0, len(drivers), 2), range(1, len(drivers), 2))
            ]
            gens = LoadGens(configs, bench.env, "profile-ingest")
            gens.expect("READY")
            gens.tell("GO")
            time.sleep(2)
            pids = [p.pid for p in bench.stack.server_processes()[1 if options.workers > 1 else 0 :]]
            meter = stack.CpuMeter(bench.stack.server_processes).start()
            procs, outputs = spy(pids, options.seconds - 1, "ingest")
            time.sleep(options.seconds)
            meter.stop()
            results = gens.results()
            accepted = sum(r["phases"][0]["window"]["accepted"] for r in results)
            lat = sorted(x for r in results for x in r["phases"][0]["latencies"])
            print(
                f"accepted/s {accepted / options.seconds:.0f}  server cores {meter.cores:.2f}  "
                f"CPU ms/update {meter.seconds * 1000 / max(1, accepted):.3f}  "
                f"ack p50 {lat[len(lat) // 2] * 1000:.2f} ms p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms"
            )
        elif options.what == "nearby":
            passenger = fixtures.users_ensure(prefix=fixtures.PASSENGER_PREFIX, count=4, driver=False)
            fixtures.redis_reset()
            drivers = fixtures.synthetic_drivers(100_000)
            fixtures.beacons_on(list(drivers))
            fixtures.positions_load(drivers)
            port = bench.start_server(options.server)
            rng = random.Random(3)
            paths = [
                f"/api/v1/drivers/nearby?lat={lat:.6f}&lng={lng:.6f}&radius_m=1000"
                for lat, lng in (fixtures.random_point(rng) for _ in range(2000))
            ]
            gens = LoadGens(
                [
                    {
                        "mode": "http",
                        "host": "127.0.0.1",
                        "port": port,
                        "tokens": fixtures.tokens_for(passenger),
                        "paths": paths,
                        "warmup": 1,
                        "duration": options.seconds,
                    }
                ],
                bench.env,
                "profile-nearby",
            )
            gens.expect("READY")
            gens.tell("GO")
            time.sleep(1)
            pids = [p.pid for p in bench.stack.server_processes()[1 if options.workers > 1 else 0 :]]
            procs, outputs = spy(pids, options.seconds - 1, "nearby")
            time.sleep(options.seconds)
            result = gens.results()[0]
            print(result["latency"], result["requests"] / options.seconds, "req/s")
        elif options.what == "citypeak":
            from bench import citypeak

            bench.args.city_rates, bench.args.city_warmup = [int(options.rate)], 3.0
            bench.args.city_duration, bench.args.city_drain = options.seconds, 5.0
            procs, outputs = [], []
            start_server = bench.start_server

            def start_server_spied(server):
                port = start_server(server)
                server_pids = [p.pid for p in bench.stack.server_processes()[1 if options.workers > 1 else 0 :]]
                more = spy(server_pids, options.seconds + 25, "citypeak-server")
                procs.extend(more[0]), outputs.extend(more[1])
                return port

            bench.start_server = start_server_spied  # type: ignore[method-assign]
            citypeak.scenario_citypeak(bench, 0)
            for key, runs in bench.results.items():
                print(key, {k: v for k, v in runs[0].items() if not isinstance(v, (dict, list))})
        else:
            bench.args.dispatch_rates = [int(options.rate)]
            bench.args.duration = options.seconds
            from bench import scenarios_more

            scenarios_more._ensure_worker(bench)
            pids = [p.pid for p in bench.stack.worker_processes()]
            procs, outputs = spy(pids, options.seconds + 4, "dispatch")
            start_server = bench.start_server

            def start_server_spied(server):  # the request's own work (surge, first batch) runs in the server
                port = start_server(server)
                server_pids = [p.pid for p in bench.stack.server_processes()[1 if options.workers > 1 else 0 :]]
                more = spy(server_pids, options.seconds + 15, "dispatch-server")
                procs.extend(more[0]), outputs.extend(more[1])
                return port

            bench.start_server = start_server_spied  # type: ignore[method-assign]  # spy on each server it starts
            scenarios_more.scenario_dispatch(bench, 0)
        for proc in procs:
            proc.wait(timeout=60)
        for out in outputs:
            if out.exists() and out.stat().st_size:
                print(f"== {out}")
                top(out)
    finally:
        bench.stack.stop()


if __name__ == "__main__":
    main()
