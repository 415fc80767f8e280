"""Load a running server with driver sockets streaming positions; report acked updates/s and ack latency.

    manage.py locations_bench --url ws://127.0.0.1:8000/ws/ --sockets 1000 --rate 15 --seconds 10

The drivers are created (or reused) in this settings' database, which must be the server's. Each socket sends
`rate` positions a second (below the per-socket limit) and waits for each ack; traffic goes only to --url.
"""

import asyncio
import os
import random
import time
from typing import Any

import orjson
from django.core.management.base import BaseCommand

from accounts.models import DriverProfile, Role, User
from accounts.services import tokens_issue
from locations.services import beacon_set

JAKARTA = (-6.2, 106.82)


def bench_drivers(count):
    drivers = []
    for n in range(count):
        user, _ = User.objects.get_or_create(msisdn=f"+62852{n:08d}", defaults={"role": Role.DRIVER})
        DriverProfile.objects.get_or_create(
            user=user,
            defaults={
                "vehicle_type": "motorcycle",
                "is_verified": True,
                "vehicle_plate": f"B {n % 9999 + 1} BN{n // 9999}",
            },
        )
        beacon_set(user=user, active=True)
        drivers.append(tokens_issue(user=user)["access"])
    return drivers


async def drive(url, token, rate, window, latencies, errors):
    """One driver socket: connect, wait for every socket to be up, then stream positions until the window ends."""
    from websockets.asyncio.client import connect

    lat = JAKARTA[0] + random.uniform(-0.02, 0.02)
    lng = JAKARTA[1] + random.uniform(-0.02, 0.02)
    async with connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60, compression=None, proxy=None
    ) as ws:
        window["connected"] += 1
        if window["connected"] == window["sockets"]:
            window["start"].set()
        await window["start"].wait()
        await asyncio.sleep(random.uniform(0, 1 / rate))
        n = 0
        while time.monotonic() < window["stop_at"]:
            n += 1
            lat += 0.000001
            sent = time.monotonic()
            await ws.send(orjson.dumps({"type": "location", "id": n, "lat": lat, "lng": lng}).decode())
            while True:
                reply = orjson.loads(await ws.recv())
                if reply.get("id") == n:
                    break
            if reply["type"] == "ack":
                latencies.append(time.monotonic() - sent)
            else:
                errors.append(reply["error"]["code"])
            await asyncio.sleep(max(0.0, sent + 1 / rate - time.monotonic()))


def process_cpu_s(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Command(BaseCommand):
    help = "Measure location updates/s one server sustains (acks received)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/")
        parser.add_argument("--sockets", type=int, default=500)
        parser.add_argument("--rate", type=float, default=15.0, help="positions per second per socket")
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--server-pid", type=int, help="also report the server's CPU time per update (Linux)")

    def handle(self, *args, **options):
        tokens = bench_drivers(options["sockets"])
        latencies, errors, cpu_s = asyncio.run(self._run(tokens, options))
        took = options["seconds"]
        latencies.sort()
        self.stdout.write(
            f"sockets={len(tokens)} offered={len(tokens) * options['rate']:.0f}/s acked={len(latencies) / took:.0f}/s "
            f"errors={len(errors)} p50={1000 * latencies[len(latencies) // 2]:.1f}ms "
            f"p99={1000 * latencies[int(len(latencies) * 0.99)]:.1f}ms"
        )
        if cpu_s is not None and latencies:
            per_update_us = 1e6 * cpu_s / len(latencies)
            self.stdout.write(
                f"server CPU {per_update_us:.0f} us/update -> ~{1e6 / per_update_us:.0f} updates/s per fully used core"
            )

    async def _run(self, tokens, options):
        latencies: list[float] = []
        errors: list[str] = []
        window: dict[str, Any] = {
            "sockets": len(tokens),
            "connected": 0,
            "start": asyncio.Event(),
            "stop_at": float("inf"),
        }
        tasks = [
            asyncio.create_task(drive(options["url"], token, options["rate"], window, latencies, errors))
            for token in tokens
        ]
        await window["start"].wait()  # count only once every socket is connected
        window["stop_at"] = time.monotonic() + options["seconds"]
        cpu_before = process_cpu_s(options["server_pid"])
        await asyncio.gather(*tasks)
        cpu_after = process_cpu_s(options["server_pid"])
        return latencies, errors, None if cpu_before is None else cpu_after - cpu_before
