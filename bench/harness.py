"""`make bench` / `python -m bench`: start the system, run the scenarios, write bench/RESULTS.md.

    python -m bench                 # everything, 3 runs each (~15–25 minutes)
    python -m bench --quick         # 1 short run of each (< 2 minutes)
    python -m bench --smoke         # a few sockets, seconds: checks the harness itself works
    python -m bench --only 1,5 --servers uvicorn,daphne

Scenarios: 1 location ingest, 2 nearby search, 3 dispatch, 4 settlement, 5 idle sockets, 6 the live state on one
Redis against a Redis Cluster, 7 city peak (whole rides at rising rates). Scenarios 1 and 5 run under each of
--servers. docs/benchmarks.md says what each measures and how to read the report.
"""

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench import stack

LOADGEN_READY_TIMEOUT = 180


# --- the load generator processes --------------------------------------------------------------------------------


class LoadGens:
    """Runs `bench.loadgen` processes with the READY / GO / DONE protocol and meters their CPU."""

    def __init__(self, configs, env, name):
        self.processes = []
        self.paths = []
        for i, config in enumerate(configs):
            config_path = stack.OUT / f"{name}-{i}.json"
            result_path = stack.OUT / f"{name}-{i}.result.json"
            config_path.write_bytes(orjson.dumps({**config, "result_path": str(result_path)}))
            self.paths.append(result_path)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.loadgen", str(config_path)],
                    cwd=stack.ROOT,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=open(stack.OUT / f"{name}-{i}.log", "ab"),
                    text=True,
                    bufsize=1,
                )
            )

    def psutil_processes(self):
        return [proc for p in self.processes for proc in stack.tree(p.pid)]

    def expect(self, word, timeout=LOADGEN_READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        for process in self.processes:
            while True:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"load generator did not say {word} in {timeout}s")
                line = process.stdout.readline()  # type: ignore[union-attr]  # stdout=PIPE
                if not line:
                    raise RuntimeError(f"load generator exited before {word}; see bench/out/*.log")
                if line.strip() == word:
                    break

    def tell(self, word):
        for process in self.processes:
            process.stdin.write(word + "\n")  # type: ignore[union-attr]  # stdin=PIPE
            process.stdin.flush()  # type: ignore[union-attr]

    def results(self):
        for process in self.processes:
            process.wait(timeout=120)
        return [orjson.loads(path.read_bytes()) for path in self.paths]

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def split(items, parts):
    return [items[i::parts] for i in range(parts)]


def pct(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Bench:
    machine: dict[str, Any]  # set by main() (machine_info) before run()

    def __init__(self, args):
        self.args = args
        self.env = stack.base_env()
        os.environ.update(self.env)
        self.stack = stack.Stack(self.env)
        self.results = {}  # (scenario, server) -> list of per-run dicts
        self.notes = []
        self.port = args.port
        self.started = time.time()
        self.machine_meter = None  # the whole run's host steal, set by run() (report.write)
        self.calibration_ms = {}  # stack.cpu_calibration_ms at the run's start and end
        self.redis_version = "?"

    # setup ---------------------------------------------------------------------------------------------------
    def setup(self):
        stack.fresh_var_dir()
        self.fd_limit = stack.raise_fd_limit()
        self.stack.start_redis()
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        self.redis_version = self.stack.redis_version()

    def log(self, text):
        print(f"[bench {time.time() - self.started:6.1f}s] {text}", flush=True)

    def record(self, scenario, server, run):
        self.results.setdefault((scenario, server), []).append(run)
        self.log(f"scenario {scenario} on {server}: {summary_line(run)}")

    def next_port(self):
        self.port += 1
        while not stack.port_free(self.port):  # another program's port: take the next one
            self.port += 1
        return self.port

    def start_server(self, server):
        workers = 1 if server == "daphne" else self.args.workers
        port = self.next_port()
        command = self.stack.start_server(server=server, port=port, workers=workers)
        self.server_command = {
            **getattr(self, "server_command", {}),
            server: " ".join(Path(part).name if part == sys.executable else part for part in command),
        }
        return port

    # 1. location ingest -------------------------------------------------------------------------------------
    def scenario_ingest(self, server, run_no):
        from bench import fixtures

        args = self.args
        drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=args.drivers, driver=True)
        fixtures.redis_reset()
        fixtures.beacons_on(drivers)
        rng = random.Random(run_no)
        start = {driver: fixtures.random_point(rng) for driver in drivers}
        fixtures.positions_load(start)
        tokens = fixtures.tokens_for(drivers)
        port = self.start_server(server)
        procs = args.loadgens
        target = args.ingest_rate
        phases = [  # the ceiling first: an open-loop phase the server cannot keep up with leaves a backlog
            {
                "name": "closed loop, ceiling",
                "rate": args.ingest_ceiling_rate / procs,
                "closed_loop": True,
                "warmup": args.warmup,
                "duration": args.duration,
            },
            *(
                {
                    "name": f"open loop at {rate}/s",
                    "rate": rate / procs,
                    "warmup": args.warmup,
                    "duration": args.duration,
                }
                for rate in [target, *args.ingest_extra_rates]
            ),
        ]
        configs = [
            {
                "mode": "ingest",
                "host": "127.0.0.1",
                "port": port,
                "ids": [drivers[i] for i in part],
                "tokens": [tokens[i] for i in part],
                "positions": [start[drivers[i]] for i in part],
                "phases": phases,
                "connect_concurrency": 50,
            }
            for part in split(list(range(len(drivers))), procs)
        ]
        gens = LoadGens(configs, self.env, f"ingest-{server}")
        try:
            metered = []
            for phase in phases:
                gens.expect("READY")
                metered.append(self.metered_window(gens, phase["warmup"], phase["duration"]))
            results = gens.results()
        finally:
            gens.kill()
            self.stack.stop_server()
        verify = self.verify_geo(results)
        for index, phase in enumerate(phases):
            parts = [result["phases"][index] for result in results]
            window_s = max(part["window_s"] for part in parts)
            latencies = [lat for part in parts for lat in part["latencies"]]
            accepted = sum(part["window"]["accepted"] for part in parts)
            run = {
                "phase": phase["name"],
                "sockets": sum(r["connected"] for r in results),
                "connect_failed": sum(r["connect_failed"] for r in results),
                "offered_per_s": round(sum(part["window"]["sent"] for part in parts) / window_s),
                "accepted_per_s": round(accepted / window_s),
                "dropped": sum(part["window"]["dropped"] for part in parts),
                "errors": sum(part["window"]["errors"] for part in parts),
                "error_codes": merge_counts(part["error_codes"] for part in parts),
                "ack_p50_ms": ms(pct(latencies, 0.5)),
                "ack_p99_ms": ms(pct(latencies, 0.99)),
                "unacked_after_drain": sum(part["unacked_after_drain"] for part in parts),
                **metered[index],
                "geo_verified": verify,
            }
            run["server_cpu_ms_per_update"] = round(run["server_cpu_s"] * 1000 / max(1, accepted), 3)
            all_in_cores = run["server_cores"] + (run["redis_cores"] or 0) + run["loadgen_cores"]
            run["all_in_cpu_ms_per_update"] = round(all_in_cores * 1000 / max(1, run["accepted_per_s"]), 3)
            key = phase["name"].split(" at ")[0] if index < 2 else phase["name"]  # "open loop" = at the target rate
            self.record(f"1:{key}", server, run)

    def metered_window(self, gens, warmup, duration):
        """Say GO, then meter server, Redis and load generator CPU over the measured window only."""
        gens.tell("GO")
        time.sleep(warmup)
        server = stack.CpuMeter(self.stack.server_processes).start()
        redis_meter = stack.CpuMeter(lambda: stack.tree(self.stack.redis_pid()) if self.stack.redis_pid() else [])
        redis_meter.start()
        loadgen = stack.CpuMeter(gens.psutil_processes).start()
        worker = stack.CpuMeter(self.stack.worker_processes).start()
        machine = stack.MachineMeter().start()
        time.sleep(duration)
        server.stop(), redis_meter.stop(), loadgen.stop(), worker.stop(), machine.stop()
        ours = server.cores + redis_meter.cores + loadgen.cores + worker.cores
        return {
            "server_cpu_s": round(server.seconds, 2),
            "server_cores": round(server.cores, 2),
            "redis_cores": round(redis_meter.cores, 2) if self.stack.redis_pid() else None,
            "loadgen_cores": round(loadgen.cores, 2),
            "worker_cores": round(worker.cores, 2),
            "other_cores": round(max(0.0, machine.busy_cores - ours), 2),
            "steal_cores": round(machine.steal_cores, 2),
        }

    def verify_geo(self, results):
        """The last accepted position of each driver is what the Redis GEO index holds (within geohash precision)."""
        from locations import live
        from locations.geo import haversine_m
        from nebengjek.redis import get_live_redis

        last = {driver: pos for result in results for driver, pos in result["last_accepted"].items()}
        ids = list(last)
        found = []
        client = get_live_redis()
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            pipe = client.pipeline(transaction=False)
            for driver, region in zip(part, live.hash_get_many(client, "region", part), strict=True):
                pipe.geopos(live.region_keys(region or "none")[0], driver)
            found += [positions[0] for positions in pipe.execute()]
        matching = sum(
            1
            for driver, geo in zip(ids, found, strict=True)
            if geo is not None and haversine_m(last[driver][0], last[driver][1], geo[1], geo[0]) < 1.0
        )
        return f"{matching}/{len(ids)}"

    # 2. nearby search ---------------------------------------------------------------------------------------
    def scenario_nearby(self, server, run_no, port):
        from bench import fixtures
        from locations.selectors import drivers_available_near
        from nebengjek.redis import get_redis

        args = self.args
        rng = random.Random(100 + run_no)
        passenger = fixtures.users_ensure(prefix=fixtures.PASSENGER_PREFIX, count=args.http_concurrency, driver=False)
        for size in args.nearby_sizes:
            fixtures.redis_reset()
            drivers = fixtures.synthetic_drivers(size, seed=size + run_no)
            t0 = time.perf_counter()
            fixtures.beacons_on(list(drivers))
            loaded = fixtures.positions_load(drivers)
            load_s = time.perf_counter() - t0
            points = [fixtures.random_point(rng) for _ in range(args.selector_calls)]
            counts, times = [], []
            for lat, lng in points[:50]:  # warm: scripts loaded, connections open
                drivers_available_near(lat=lat, lng=lng, radius_m=1000)
            get_redis().config_resetstat()  # Redis' own time per search script call, below
            machine = stack.MachineMeter().start()
            cpu0 = time.process_time()
            for lat, lng in points:
                t = time.perf_counter()
                found = drivers_available_near(lat=lat, lng=lng, radius_m=1000)
                times.append(time.perf_counter() - t)
                counts.append(len(found))
            client_cpu_ms = (time.process_time() - cpu0) / len(points) * 1000
            machine.stop()
            redis_us = get_redis().info("commandstats").get("cmdstat_evalsha", {}).get("usec_per_call")
            reference = self.nearby_reference(points)
            tokens = fixtures.tokens_for(passenger)
            paths = [f"/api/v1/drivers/nearby?lat={lat:.6f}&lng={lng:.6f}&radius_m=1000" for lat, lng in points]
            http = {}
            for concurrency in sorted({1, args.http_concurrency}):
                gens = LoadGens(
                    [
                        {
                            "mode": "http",
                            "host": "127.0.0.1",
                            "port": port,
                            "tokens": tokens[:concurrency],
                            "paths": paths,
                            "warmup": 1.0,
                            "duration": args.http_duration,
                        }
                    ],
                    self.env,
                    f"nearby-{size}-{concurrency}",
                )
                try:
                    gens.expect("READY")
                    metered = self.metered_window(gens, 1.0, args.http_duration)
                    gens.expect("DONE", timeout=60)
                    result = gens.results()[0]
                finally:
                    gens.kill()
                http[concurrency] = {
                    "p50_ms": ms(result["latency"].get("p50")),
                    "p99_ms": ms(result["latency"].get("p99")),
                    "requests_per_s": round(result["requests"] / result["window_s"]),
                    "statuses": result["statuses"],
                    **metered,
                }
            run = {
                "drivers": size,
                "indexed": loaded,
                "load_s": round(load_s, 2),
                "selector_p50_ms": ms(pct(times, 0.5)),
                "selector_p99_ms": ms(pct(times, 0.99)),
                "selector_calls": len(times),
                "mean_found": round(statistics.mean(counts), 1),
                "selector_client_cpu_ms": round(client_cpu_ms, 3),
                "selector_redis_ms": round(redis_us / 1000, 3) if redis_us is not None else None,
                "selector_steal_cores": round(machine.steal_cores, 2),
                **reference,
                "http": {str(k): v for k, v in http.items()},
            }
            self.record(f"2:{size}", server, run)

    @staticmethod
    def nearby_reference(points):
        """The floor under the selector, at the same points: the round trip of the search's first GEOSEARCH alone
        (same circle, same COUNT, nothing else) and of a PING, through the same redis-py client."""
        from locations import live
        from locations.regions import region_of
        from locations.selectors import _Search
        from nebengjek.redis import get_live_redis

        client, geosearch, ping = get_live_redis(), [], []
        for lat, lng in points:
            geo = live.region_keys(region_of(lat, lng))[0]
            search_lng, search_lat, _, want, _, first_radius = _Search(lat, lng, 1000, None, ()).args("")
            t = time.perf_counter()
            client.execute_command(
                "GEOSEARCH",
                geo,
                "FROMLONLAT",
                search_lng,
                search_lat,
                "BYRADIUS",
                first_radius,
                "m",
                "COUNT",
                want,
                "ASC",
            )
            geosearch.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.ping()
            ping.append(time.perf_counter() - t)
        return {
            "bare_geosearch_p50_ms": ms(pct(geosearch, 0.5)),
            "bare_geosearch_p99_ms": ms(pct(geosearch, 0.99)),
            "ping_p50_ms": ms(pct(ping, 0.5)),
            "ping_p99_ms": ms(pct(ping, 0.99)),
        }

    # 5. idle sockets ----------------------------------------------------------------------------------------
    def scenario_idle(self, server, run_no):
        from bench import fixtures

        args = self.args
        drivers = fixtures.users_ensure(prefix=fixtures.DRIVER_PREFIX, count=args.idle_sockets, driver=True)
        fixtures.redis_reset()
        tokens = fixtures.tokens_for(drivers)
        port = self.start_server(server)
        try:
            warm = LoadGens(
                [{"mode": "idle", "host": "127.0.0.1", "port": port, "tokens": tokens[:100]}],
                self.env,
                f"idle-warm-{server}",
            )
            warm.expect("READY")
            warm.tell("CLOSE")
            warm.expect("DONE")
            warm.results()
            time.sleep(1.0)
            before = stack.rss_bytes(self.stack.server_processes())
            t0 = time.perf_counter()
            configs = [
                {"mode": "idle", "host": "127.0.0.1", "port": port, "tokens": part, "connect_concurrency": 50}
                for part in split(tokens, args.loadgens)
            ]
            gens = LoadGens(configs, self.env, f"idle-{server}")
            try:
                gens.expect("READY")
                connect_s = time.perf_counter() - t0
                time.sleep(2.0)
                after = stack.rss_bytes(self.stack.server_processes())
                push = self.push_events(drivers, gens, rounds=args.push_rounds) if args.push_rounds else {}
                gens.tell("CLOSE")
                gens.expect("DONE")
                results = gens.results()
            finally:
                gens.kill()
        finally:
            self.stack.stop_server()
        connected = sum(r["connected"] for r in results)
        run = {
            "sockets": connected,
            "connect_failed": sum(r["connect_failed"] for r in results),
            "open_at_measure": sum(r["open_at_close"] for r in results),
            "connect_per_s": round(connected / connect_s),
            "rss_before_mb": round(before / 2**20, 1),
            "rss_after_mb": round(after / 2**20, 1),
            "kb_per_socket": round((after - before) / max(1, connected) / 1024, 1),
        }
        if push:
            received = sum(r["pushes"]["n"] for r in results)
            lasts = [r["pushes"]["last"] for r in results if r["pushes"]["last"]]
            span = (max(lasts) - push["t0"]) if lasts else None
            processes = 1 if server == "daphne" else self.args.workers
            run.update(
                {
                    "pushes_sent": push["sent"],
                    "pushes_received": received,
                    "pushes_lost": push["sent"] - received,
                    "pushes_out_of_order": sum(r["pushes"]["out_of_order"] for r in results),
                    "push_delivered_per_s": round(received / span) if span else None,
                    "push_per_process_per_s": round(received / span / processes) if span else None,
                    "push_publish_s": round(push["publish_s"], 2),
                    **push["metered"],
                }
            )
        self.record("5", server, run)

    def push_events(self, user_ids, gens, *, rounds):
        """Publish `rounds` events to every connected user's group the way nebengjek.realtime does after a commit
        (pipelined PUBLISH to the pub/sub layer's group channels, without the Event rows), from two processes."""
        configs = [{"mode": "publish", "user_ids": part, "rounds": rounds} for part in split(user_ids, 2)]
        server = stack.CpuMeter(self.stack.server_processes).start()
        machine = stack.MachineMeter().start()
        t0 = time.time()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.publish"],
                cwd=stack.ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in configs
        ]
        for proc, config in zip(procs, configs, strict=True):
            proc.stdin.write(orjson.dumps(config).decode() + "\n")  # type: ignore[union-attr]  # stdin=PIPE
            proc.stdin.flush()  # type: ignore[union-attr]
        sent, starts = 0, []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            lines = out.strip().splitlines()
            starts.append(float(lines[-2]))
            sent += int(lines[-1])
        t0 = min(starts)
        publish_s = time.time() - t0
        received, progress_at = -1, time.monotonic()
        while time.monotonic() - progress_at < 3.0:  # until all arrived, or nothing more came for 3 s
            time.sleep(0.25)
            gens.tell("COUNT")
            now_received = sum(int(p.stdout.readline()) for p in gens.processes)
            if now_received != received:
                received, progress_at = now_received, time.monotonic()
            if received >= sent:
                break
        server.stop(), machine.stop()
        return {
            "sent": sent,
            "t0": t0,
            "publish_s": publish_s,
            "metered": {
                "push_server_cores": round(server.cores, 2),
                "push_other_cores": round(max(0.0, machine.busy_cores - server.cores), 2),
                "push_steal_cores": round(machine.steal_cores, 2),
            },
        }

    # orchestration ------------------------------------------------------------------------------------------
    def run(self):
        self.setup()
        only = self.args.only
        self.machine_meter = stack.MachineMeter().start()
        self.calibration_ms["start"] = stack.cpu_calibration_ms()
        try:
            for run_no in range(self.args.runs):
                for server in self.args.servers:
                    if 5 in only and server != stack.BARE:  # the reference handler has no channel layer
                        self.guarded(f"5 on {server}", self.scenario_idle, server, run_no)
                    if 1 in only:
                        self.guarded(f"1 on {server}", self.scenario_ingest, server, run_no)
                if 2 in only:
                    self.guarded("2", self.nearby_on_uvicorn, run_no)
                if 3 in only:
                    self.guarded("3", self.run_optional, "dispatch", run_no)
                if 4 in only:
                    self.guarded("4", self.run_optional, "settlement", run_no)
                if 6 in only:
                    self.guarded("6", self.scenario_cluster, run_no)
                if 7 in only:
                    self.guarded("7", self.run_citypeak, run_no)
        finally:
            self.machine_meter.stop()
            self.stack.stop()
            self.calibration_ms["end"] = stack.cpu_calibration_ms()
            from bench import report

            report.write(self)

    def guarded(self, name, function, *args):
        """A failing scenario is written down in RESULTS.md; the others still run."""
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001  (the report must still be written)
            import traceback

            self.notes.append(
                f"scenario {name} failed: `{type(exc).__name__}: {str(exc)[:200]}` "
                f"(traceback in bench/out/harness-errors.log)"
            )
            with open(stack.OUT / "harness-errors.log", "a") as log:
                log.write(traceback.format_exc())
            self.log(f"scenario {name} FAILED: {exc!r}")
            self.stack.stop_server()

    def scenario_cluster(self, run_no):
        """6: the live state's ingest and nearby on one Redis and on a Redis Cluster, same run (bench/cluster.py)."""
        from bench import cluster

        rows = cluster.run(
            drivers_n=self.args.cluster_drivers, sockets=self.args.cluster_sockets, duration=self.args.duration
        )
        for row in rows:
            self.record(f"6:{row['mode']}", "live state", row)
        self.notes.append(
            "scenario 6, live state on one Redis vs a Redis Cluster (3 masters + 3 replicas), "
            f"run {run_no + 1}:\n\n" + cluster.markdown(rows) + "\n"
        )

    def nearby_on_uvicorn(self, run_no):
        port = self.start_server("uvicorn")
        try:
            self.scenario_nearby("uvicorn", run_no, port)
        finally:
            self.stack.stop_server()

    def run_citypeak(self, run_no):
        from bench import citypeak

        citypeak.scenario_citypeak(self, run_no)

    def run_optional(self, name, run_no):
        from bench import scenarios_more

        getattr(scenarios_more, f"scenario_{name}")(self, run_no)


def merge_counts(dicts):
    merged: dict[str, Any] = {}
    for counts in dicts:
        for key, value in counts.items():
            merged[key] = merged.get(key, 0) + value
    return merged


def summary_line(run):
    keep = {k: v for k, v in run.items() if not isinstance(v, (dict, list))}
    return ", ".join(f"{k}={v}" for k, v in keep.items())


def parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 short run of each scenario (< 2 minutes)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness works (seconds)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="scenarios to run, e.g. 1,5")
    parser.add_argument(
        "--servers",
        default=None,
        help="servers for scenarios 1 and 5 (default uvicorn,daphne,bare; --quick: uvicorn); "
        "bare = the reference handler bench/bare.py (scenario 1 only)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drivers", type=int, default=2000, help="sockets in scenario 1")
    parser.add_argument("--ingest-rate", type=int, default=10_000, help="offered updates/s, open loop")
    parser.add_argument(
        "--ingest-extra-rates",
        default="5000",
        help="more open-loop rates after the target one (where does ack p99 hold?)",
    )
    parser.add_argument("--ingest-ceiling-rate", type=int, default=30_000, help="cap of the closed-loop phase")
    parser.add_argument("--idle-sockets", type=int, default=5000)
    parser.add_argument("--push-rounds", type=int, default=4, help="events pushed to each idle socket")
    parser.add_argument("--nearby-sizes", default="10000,100000")
    parser.add_argument("--selector-calls", type=int, default=3000)
    parser.add_argument("--http-concurrency", type=int, default=8)
    parser.add_argument("--http-duration", type=float, default=5.0)
    parser.add_argument("--dispatch-online", type=int, default=10_000)
    parser.add_argument("--dispatch-sockets", type=int, default=300)
    parser.add_argument("--dispatch-rates", default="20,50")
    parser.add_argument("--rides", type=int, default=2000, help="rides settled in scenario 4")
    parser.add_argument("--settle-timeout", type=float, default=120.0)
    parser.add_argument("--cluster-drivers", type=int, default=20_000, help="drivers in scenario 6")
    parser.add_argument("--cluster-sockets", type=int, default=500, help="concurrent senders in scenario 6")
    parser.add_argument("--city-drivers", type=int, default=400, help="driver sockets in scenario 7")
    parser.add_argument("--city-passengers", type=int, default=1200, help="passengers in scenario 7")
    parser.add_argument(
        "--city-rates", default=None, help="whole rides offered per s, in order (default 10,20,40,60; --quick 10,20,40)"
    )
    parser.add_argument("--city-warmup", type=float, default=3.0)
    parser.add_argument("--city-duration", type=float, default=15.0, help="metered s per rate")
    parser.add_argument("--city-drain", type=float, default=20.0, help="s for a rate's rides under way to finish")
    parser.add_argument("--city-proposal-timeout", type=float, default=30.0)
    parser.add_argument("--loadgens", type=int, default=2, help="load generator processes")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="uvicorn workers")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BENCH_PORT", "8600")),
        help="servers listen on the ports after this one",
    )
    parser.add_argument("--output", default=str(stack.ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)
    servers = "uvicorn,daphne,bare"
    if args.quick:  # under two minutes: the product's server only, shorter windows, fewer idle sockets
        args.runs, args.warmup, args.duration, args.http_duration = 1, 1.0, 3.0, 1.5
        args.selector_calls, args.idle_sockets, args.rides = 1000, 2000, 1000
        args.dispatch_rates, servers, args.ingest_extra_rates = "20", "uvicorn", ""
        args.nearby_sizes = "100000"  # the target's size only
        args.city_rates = args.city_rates or "10,20,40"
        args.city_drain, args.city_proposal_timeout = 10.0, 10.0
        args.city_warmup, args.city_duration = 2.0, 8.0
    if args.smoke:
        args.runs, args.warmup, args.duration, args.http_duration = 1, 0.5, 1.0, 0.5
        args.drivers, args.idle_sockets, args.selector_calls, args.ingest_rate = 20, 20, 50, 200
        args.ingest_ceiling_rate, args.nearby_sizes, args.http_concurrency = 300, "1000", 2
        args.push_rounds, args.ingest_extra_rates = 2, ""
        args.dispatch_online, args.dispatch_sockets, args.dispatch_rates, args.rides = 50, 5, "5", 20
        args.city_drivers, args.city_passengers, args.city_rates, args.city_drain = 10, 20, args.city_rates or "2", 5.0
        args.city_warmup, args.city_duration = 0.5, 2.0
        args.loadgens, args.cluster_drivers, args.cluster_sockets = 1, 200, 20
        args.output = str(stack.OUT / "SMOKE.md")
    args.only = {int(x) for x in args.only.split(",") if x}
    args.servers = [s for s in (args.servers or servers).split(",") if s]
    args.nearby_sizes = [int(x) for x in str(args.nearby_sizes).split(",")]
    args.dispatch_rates = [int(x) for x in str(args.dispatch_rates).split(",")]
    args.city_rates = [int(x) for x in str(args.city_rates or "10,20,40,60").split(",") if x]
    args.ingest_extra_rates = [int(x) for x in str(args.ingest_extra_rates).split(",") if x]
    return args


def main(argv=None):
    args = parse(argv if argv is not None else sys.argv[1:])
    bench = Bench(args)
    bench.machine = machine_info()
    bench.run()
    return 0


def machine_info():
    import psutil

    cpu_model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu_model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
