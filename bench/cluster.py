"""Scenario 6: the live state's hot paths (location ingest through the socket's LocationFlusher, and the nearby
selector) on one Redis and on a Redis Cluster of 3 masters + 3 replicas, in the same run, on the same box.

No ASGI server: the harness process itself is the client (one event loop, `--cluster-sockets` concurrent senders
that each await their ack, as sockets do), so what differs between the two modes is only the live-state Redis
side and the client's routing. Measured per mode: updates/s in a closed loop (the ceiling of one client process),
the client's CPU per update, the Redis processes' CPU per update (all of them: replicas' replication included), and
the same per nearby search (1 km and 3 km around random points of Greater Jakarta, where a 3 km circle often
spans two or three regions). The box ceiling is then cores / (client + Redis CPU per update).

Redis servers: a plain redis-server on BENCH_SINGLE_REDIS_PORT (default 9510) and the cluster on
BENCH_CLUSTER_PORT..+5 (default 7200; bus ports +10000), both started and stopped here.
"""

import asyncio
import os
import random
import shutil
import statistics
import time

import psutil

# Greater Jakarta (Jabodetabek)
AREA = {"lat": (-6.60, -6.10), "lng": (106.60, 107.10)}
SINGLE_PORT = int(os.environ.get("BENCH_SINGLE_REDIS_PORT", "9510"))
CLUSTER_PORT = int(os.environ.get("BENCH_CLUSTER_PORT", "7200"))


def _cpu_seconds(pids):
    return sum(_cpu_each(pids).values())


def _cpu_each(pids):
    each = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            each[pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return each


def _point(rng):
    return rng.uniform(*AREA["lat"]), rng.uniform(*AREA["lng"])


def _use(url, cluster):
    from django.conf import settings

    from locations import live
    from nebengjek.redis import reset_live_clients

    settings.LIVE_REDIS_URL, settings.LIVE_REDIS_CLUSTER = url, cluster
    reset_live_clients()
    live._config_reset()  # the ingest script's arguments depend on the mode (the region step inline on one Redis)
    live._flushers.clear()
    live._last_flusher[:] = [None, None]


def _load(drivers, positions):
    """Beacons on and a first position for every driver, through the same scripts as production."""
    from locations import live
    from nebengjek.redis import get_live_redis

    client = get_live_redis()
    live.per_bucket(client, lambda pipe, keys: pipe.set(keys.marker, "bench"))
    for start in range(0, len(drivers), 5000):
        live.bucket_writes(client, lambda pipe, keys, ids: pipe.sadd(keys.beacon, *ids), drivers[start : start + 5000])
    t = time.time()
    for start in range(0, len(drivers), 2000):
        chunk = drivers[start : start + 2000]
        results = live.run(
            [live.Call("ingest", *live.ingest_keys_args(d, positions[d][0], positions[d][1], t)) for d in chunk]
        )
        steps = [
            step
            for d, result in zip(chunk, results, strict=True)
            for step in live.placed_steps(d, result, repr(positions[d][0]), repr(positions[d][1]), repr(t))
        ]
        live.run(steps)


_rounds = [0]


async def _ingest(drivers, positions, sockets, duration):
    """Closed loop: `sockets` senders, each moving its drivers ~8 m a second of position time and awaiting each ack.
    Returns (accepted, other results, elapsed s)."""
    from locations import live

    flusher = live.flusher()
    _rounds[0] += 1
    t0 = time.time() + 100_000 * _rounds[0]  # later than any earlier round's positions, whatever their count
    counts = {"accepted": 0, "other": 0}
    stop_at = time.monotonic() + duration
    shares = [drivers[i::sockets] for i in range(sockets)]

    async def sender(share):
        n = 0
        while time.monotonic() < stop_at:
            for driver in share:
                n += 1
                lat, lng = positions[driver]
                lat += 0.00007 if n % 2 else -0.00007
                positions[driver] = (lat, lng)
                result = await flusher.submit(driver, lat, lng, t0 + n)
                counts["accepted" if result == live.ACCEPTED else "other"] += 1
                if time.monotonic() >= stop_at:
                    return

    started = time.perf_counter()
    await asyncio.gather(*(sender(share) for share in shares if share))
    return counts["accepted"], counts["other"], time.perf_counter() - started


def _nearby(radius_m, duration, rng):
    from locations.selectors import drivers_available_near

    times, found = [], []
    stop_at = time.monotonic() + duration
    while time.monotonic() < stop_at:
        lat, lng = _point(rng)
        t = time.perf_counter()
        found.append(len(drivers_available_near(lat=lat, lng=lng, radius_m=radius_m)))
        times.append(time.perf_counter() - t)
    return times, found


def measure(mode, url, cluster, redis_pids, *, drivers_n, sockets, duration, seed=6):
    """One mode's figures (a dict)."""
    import uuid

    from locations.regions import region_of

    _use(url, cluster)
    rng = random.Random(seed)
    drivers = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(drivers_n)]
    positions = {d: _point(rng) for d in drivers}
    _load(drivers, positions)
    row = {"mode": mode, "drivers": drivers_n, "regions": len({region_of(*p) for p in positions.values()})}
    asyncio.run(_ingest(drivers[:sockets], positions, sockets, 0.5))  # warm: connections, scripts
    _use(url, cluster)
    me = psutil.Process()
    client0, each0 = me.cpu_times(), _cpu_each(redis_pids)
    accepted, other, elapsed = asyncio.run(_ingest(drivers, positions, sockets, duration))
    client1, each1 = me.cpu_times(), _cpu_each(redis_pids)
    redis0, redis1 = sum(each0.values()), sum(each1.values())
    hottest = max(each1[pid] - each0.get(pid, 0.0) for pid in each1)
    client_cpu = (client1.user + client1.system) - (client0.user + client0.system)
    updates = accepted + other
    row.update(
        {
            "ingest_updates_per_s": round(updates / elapsed),
            "ingest_not_accepted": other,
            "ingest_client_cpu_ms_per_update": round(client_cpu * 1000 / max(1, updates), 4),
            "ingest_redis_cpu_ms_per_update": round((redis1 - redis0) * 1000 / max(1, updates), 4),
            # the busiest Redis process (on a cluster: the master with the most of the drivers' buckets and regions)
            "ingest_hottest_redis_cpu_ms_per_update": round(hottest * 1000 / max(1, updates), 4),
        }
    )
    row["ingest_box_ceiling_per_s"] = round(
        (os.cpu_count() or 1) * 1000 / (row["ingest_client_cpu_ms_per_update"] + row["ingest_redis_cpu_ms_per_update"])
    )
    for radius in (1000, 3000):
        _nearby(radius, 0.3, rng)
        client0, redis0 = me.cpu_times(), _cpu_seconds(redis_pids)
        times, found = _nearby(radius, duration, rng)
        client1, redis1 = me.cpu_times(), _cpu_seconds(redis_pids)
        client_cpu = (client1.user + client1.system) - (client0.user + client0.system)
        key = f"nearby_{radius // 1000}km"
        row.update(
            {
                f"{key}_per_s": round(len(times) / sum(times)),
                f"{key}_p50_ms": round(statistics.median(times) * 1000, 3),
                f"{key}_p99_ms": round(sorted(times)[int(len(times) * 0.99) - 1] * 1000, 3),
                f"{key}_mean_found": round(statistics.mean(found), 1),
                f"{key}_client_cpu_ms": round(client_cpu * 1000 / len(times), 4),
                f"{key}_redis_cpu_ms": round((redis1 - redis0) * 1000 / len(times), 4),
            }
        )
    return row


def run(*, drivers_n=20000, sockets=500, duration=5.0):
    """One Redis, then the 3+3 and 3+0 clusters; returns a row per mode."""
    from django.conf import settings

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        raise RuntimeError("scenario 6 needs redis-server and redis-cli (Debian's redis-server package)")
    rows = []
    restore = settings.LIVE_REDIS_URL, settings.LIVE_REDIS_CLUSTER
    try:
        rows += _run_modes(drivers_n=drivers_n, sockets=sockets, duration=duration)
    finally:  # the scenarios after this one use the harness' own live-state Redis again
        _use(*restore)
    return rows


def _run_modes(*, drivers_n, sockets, duration):
    from tests.live_cluster import RedisClusterProcs
    from tests.reliability.procs import RedisServer

    rows = []
    with RedisServer(SINGLE_PORT) as single:
        rows.append(
            measure(
                "single Redis",
                single.url,
                False,
                [single.process.pid],
                drivers_n=drivers_n,
                sockets=sockets,
                duration=duration,
            )
        )
    for replicas, mode in ((1, "Redis Cluster 3+3"), (0, "Redis Cluster 3+0")):
        cluster = RedisClusterProcs(CLUSTER_PORT, replicas=replicas).start()
        try:
            pids = [cluster.processes[port].pid for port in cluster.ports]
            rows.append(measure(mode, cluster.url, True, pids, drivers_n=drivers_n, sockets=sockets, duration=duration))
        finally:
            cluster.stop()
    return rows


def markdown(rows) -> str:
    """The modes side by side, each cluster mode also as a ratio to the single Redis."""
    keys = [key for key in rows[0] if key != "mode"]
    lines = [
        "| figure | "
        + " | ".join(row["mode"] for row in rows)
        + " | "
        + " | ".join(f"{row['mode']} / single" for row in rows[1:])
        + " |",
        "|---|" + "---|" * (2 * len(rows) - 1),
    ]
    for key in keys:
        values = [row.get(key) for row in rows]
        ratios = [
            f"{value / values[0]:.2f}"
            if isinstance(values[0], (int, float)) and values[0] and isinstance(value, (int, float))
            else ""
            for value in values[1:]
        ]
        lines.append(f"| {key} | " + " | ".join(str(v) for v in values) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    import django

    parser = argparse.ArgumentParser(prog="python -m bench.cluster")
    parser.add_argument("--drivers", type=int, default=20000)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--duration", type=float, default=5.0)
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
    django.setup()
    print(markdown(run(drivers_n=options.drivers, sockets=options.sockets, duration=options.duration)))
