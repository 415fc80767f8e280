"""`manage.py simulate`: real clients against a running server, over REST and the WebSocket — the demo and the
load generator. Drivers beacon and move; passengers request rides; drivers accept; passengers confirm; drivers
drive to the pickup, start, drive to the destination and end. Prints a progress line and a summary.

Sign-in: OTP needs the SMS log, so the simulator mints tokens for seeded users directly with
accounts.services.tokens_issue — it must run with the same DATABASE_URL as the server (`make demo` does).
"""

import asyncio
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets
from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from accounts.management.commands.seed import DRIVER_MSISDN_PREFIX, PASSENGER_MSISDN_PREFIX, jakarta_point
from locations.geo import haversine_m

ARRIVED_M = 25  # close enough to the pickup / destination
LIVE_RIDE = ("driver_en_route", "in_progress")


def step_towards(here, there, metres):
    """The point `metres` from `here` on the straight line to `there` (or `there` if closer)."""
    distance = haversine_m(*here, *there)
    if distance <= metres or distance == 0:
        return there
    f = metres / distance
    return here[0] + (there[0] - here[0]) * f, here[1] + (there[1] - here[1]) * f


def offset(point, metres, bearing):
    dlat = metres * math.cos(bearing) / 111_195.08
    dlng = metres * math.sin(bearing) / (111_195.08 * math.cos(math.radians(point[0])))
    return round(point[0] + dlat, 6), round(point[1] + dlng, 6)


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    request_sent_at: dict = field(default_factory=dict)  # request id -> monotonic time the POST was sent
    first_proposal_at: dict = field(default_factory=dict)  # request id -> monotonic time a driver first saw it

    def latencies(self):
        return [
            self.first_proposal_at[rid] - sent
            for rid, sent in self.request_sent_at.items()
            if rid in self.first_proposal_at
        ]


class Client:
    """One simulated user: tokens, REST calls (refreshing the access token on 401) and a socket."""

    def __init__(self, sim, user, tokens):
        self.sim, self.user, self.id = sim, user, str(user.pk)
        self.access, self.refresh = tokens["access"], tokens["refresh"]
        self.socket: Any = None  # the websockets client connection, once connected
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = 0
        self.pending: dict[int, asyncio.Future[Any]] = {}  # message id -> future of the ack/error

    async def rest(self, method, path, body=None, expected=(200, 201, 202, 204)):
        for attempt in range(2):
            response = await self.sim.http.request(
                method, "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {self.access}"}
            )
            if response.status_code == 401 and attempt == 0 and await self._refresh():
                continue
            break
        data = response.json() if response.content else {}
        if response.status_code not in expected:
            code = (data.get("error") or {}).get("code", str(response.status_code))
            return None, code
        return data, None

    async def _refresh(self):
        response = await self.sim.http.post("/api/v1/auth/token/refresh", json={"refresh": self.refresh})
        if response.status_code != 200:
            return False
        self.access, self.refresh = response.json()["access"], response.json()["refresh"]
        return True

    async def connect(self):
        self.socket = await websockets.connect(
            f"{self.sim.ws_url}?token={self.access}", max_size=2**22, open_timeout=20
        )
        self.sim.tasks.append(asyncio.create_task(self._read()))

    async def _read(self):
        try:
            async for raw in self.socket:
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind in ("ack", "error") and message.get("id") in self.pending:
                    self.pending.pop(message["id"]).set_result(message)
                elif kind == "error":
                    self.sim.stats.errors[f"ws:{message['error']['code']}"] += 1
                else:
                    await self.events.put(message)
        except websockets.ConnectionClosed:
            pass

    async def send(self, message, wait=True):
        """Send a socket message with an id; returns the ack/error (None when the socket is gone)."""
        self._ids += 1
        message_id = self._ids
        future = asyncio.get_running_loop().create_future()
        self.pending[message_id] = future
        try:
            await self.socket.send(orjson.dumps({**message, "id": message_id}).decode())
            return await asyncio.wait_for(future, timeout=15) if wait else None
        except (TimeoutError, websockets.ConnectionClosed):
            self.pending.pop(message_id, None)
            self.sim.stats.errors["ws:no_ack"] += 1
            return None

    async def close(self):
        if self.socket is not None:
            await self.socket.close()


class Driver:
    def __init__(self, sim, client, rng, start=None):
        self.sim, self.client, self.rng = sim, client, rng
        self.here = start or jakarta_point(rng)  # from its live position: a jump would be dropped as too fast
        self.ride: Any = None  # the live ride as last pushed
        self.ending = False

    async def run(self):
        await self._clear_leftovers()
        reply = await self.client.send({"type": "beacon", "active": True})
        if reply is None or reply["type"] == "error":
            self.sim.stats.errors["beacon_refused"] += 1
            return
        await asyncio.gather(self._move(), self._listen())

    async def _clear_leftovers(self):
        """A previous run may have left this driver in a ride: finish it so the driver is free."""
        for ride_id, status in self.sim.leftover_rides.get(self.client.id, ()):
            if status == "in_progress":
                await self.client.rest("POST", f"/rides/{ride_id}/end", {})
            else:
                await self.client.rest("POST", f"/rides/{ride_id}/cancel", {"reason": "simulator restart"})

    async def _listen(self):
        while not self.sim.stopped:
            try:
                event = await asyncio.wait_for(self.client.events.get(), timeout=0.5)
            except TimeoutError:
                continue
            kind = event.get("type")
            if kind == "match.proposal":
                self.sim.stats.counts["proposals"] += 1
                request_id = event["match"].get("request_id")
                self.sim.stats.first_proposal_at.setdefault(request_id, time.monotonic())
                asyncio.create_task(self._answer(event["match"]))
            elif kind == "ride.updated":
                ride = event["ride"]
                self.ride = ride if ride["status"] in LIVE_RIDE else None

    async def _answer(self, match):
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # a human reads the offer
        if self.sim.stopped:
            return
        if self.rng.random() < self.sim.reject_rate:
            await self.client.send({"type": "match.reject", "match_id": match["id"]})
            self.sim.stats.counts["proposals_rejected"] += 1
            return
        reply = await self.client.send({"type": "match.accept", "match_id": match["id"]})
        if reply and reply["type"] == "ack":
            self.sim.stats.counts["proposals_won"] += 1
        elif reply:
            code = reply["error"]["code"]
            self.sim.stats.counts["proposals_lost"] += 1 if code == "match_not_pending" else 0
            if code != "match_not_pending":
                self.sim.stats.errors[f"accept:{code}"] += 1

    def _target(self):
        if self.ride is None:
            return None
        point = self.ride["pickup"] if self.ride["status"] == "driver_en_route" else self.ride["destination"]
        return point["lat"], point["lng"]

    async def _move(self):
        wander = self.rng.uniform(0, 2 * math.pi)
        while not self.sim.stopped:
            await asyncio.sleep(self.sim.tick_s * self.rng.uniform(0.9, 1.1))
            target = self._target()
            step = self.sim.speed_ms * self.sim.tick_s
            if target is None:
                wander += self.rng.uniform(-0.6, 0.6)
                self.here = offset(self.here, step * 0.3, wander)  # cruising slowly while waiting
            else:
                self.here = step_towards(self.here, target, step)
            reply = await self.client.send(
                {"type": "location", "lat": self.here[0], "lng": self.here[1], "accuracy_m": 8}
            )
            if reply and reply["type"] == "ack":
                self.sim.stats.counts["locations_accepted" if reply.get("accepted") else "locations_dropped"] += 1
            if target is not None and haversine_m(*self.here, *target) <= ARRIVED_M:
                await self._arrived()

    async def _arrived(self):
        ride = self.ride
        if ride["status"] == "driver_en_route":
            data, error = await self.client.rest("POST", f"/rides/{ride['id']}/start", {})
            if data:
                self.ride = data
                self.sim.stats.counts["rides_started"] += 1
            else:
                self.sim.stats.errors[f"start:{error}"] += 1
        elif ride["status"] == "in_progress" and not self.ending:
            self.ending = True
            pct = 100 if self.rng.random() < 0.85 else self.rng.choice((80, 90))
            data, error = await self.client.rest("POST", f"/rides/{ride['id']}/end", {"price_pct": pct})
            self.ending = False
            if data:
                self.ride = None
                self.sim.stats.counts["rides_completed"] += 1
                self.sim.stats.counts["fares_idr"] += (data.get("fare") or {}).get("charged_amount") or 0
            else:
                self.sim.stats.errors[f"end:{error}"] += 1

    async def finish(self):
        """When the run is over: end or cancel a ride still going, so the next run starts clean."""
        if self.ride is None:
            return
        if self.ride["status"] == "in_progress":
            await self.client.rest("POST", f"/rides/{self.ride['id']}/end", {})
        else:
            await self.client.rest("POST", f"/rides/{self.ride['id']}/cancel", {"reason": "simulation over"})


class Passenger:
    def __init__(self, sim, client, rng):
        self.sim, self.client, self.rng = sim, client, rng
        self.request_id = None

    async def run(self):
        for request_id in self.sim.leftover_requests.get(self.client.id, ()):
            await self.client.rest("POST", f"/rides/requests/{request_id}/cancel", {})
        await asyncio.sleep(self.rng.uniform(0, self.sim.think_s))
        while not self.sim.stopping:
            await self._one_trip()
            await asyncio.sleep(self.rng.uniform(0.5, self.sim.think_s))

    async def _one_trip(self):
        pickup = jakarta_point(self.rng)
        destination = offset(pickup, self.rng.uniform(600, 2000), self.rng.uniform(0, 2 * math.pi))
        method = "wallet" if self.rng.random() < self.sim.wallet_share else "cash"
        sent = time.monotonic()
        data, error = await self.client.rest(
            "POST",
            "/rides/requests",
            {
                "pickup": {"lat": pickup[0], "lng": pickup[1]},
                "destination": {"lat": destination[0], "lng": destination[1]},
                "payment_method": method,
            },
        )
        if data is None:
            self.sim.stats.errors[f"request:{error}"] += 1
            await asyncio.sleep(2)
            return
        self.request_id = data["id"]
        self.sim.stats.request_sent_at[self.request_id] = sent
        self.sim.stats.counts["requests"] += 1
        await self._follow(self.request_id)
        self.request_id = None

    async def _follow(self, request_id):
        """Confirm the first driver who accepts; return when the trip ends one way or another. Without a
        confirmed ride the passenger gives up after request_timeout_s (or when the run stops)."""
        deadline = time.monotonic() + self.sim.request_timeout_s
        while True:
            confirmed = f"ride:{request_id}" in self.sim.stats.counts
            if self.sim.stopped or (not confirmed and time.monotonic() > deadline):
                break
            try:
                event = await asyncio.wait_for(self.client.events.get(), timeout=0.5)
            except TimeoutError:
                if self.sim.stopping and not confirmed:
                    break
                continue
            kind = event.get("type")
            if kind == "match.accepted" and event["match"].get("request_id") == request_id:
                data, error = await self.client.rest("POST", f"/rides/requests/{request_id}/confirm", {})
                if data is None:
                    self.sim.stats.errors[f"confirm:{error}"] += 1
                else:
                    self.sim.stats.counts["confirmed"] += 1
                    self.sim.stats.counts[f"ride:{request_id}"] = 1
            elif kind == "request.updated" and event["request"]["id"] == request_id:
                status = event["request"]["status"]
                if status in ("no_driver", "expired", "cancelled"):
                    self.sim.stats.counts[f"requests_{status}"] += 1
                    return
            elif kind == "ride.updated" and event["ride"]["status"] in ("completed", "cancelled"):
                self.sim.stats.counts.pop(f"ride:{request_id}", None)
                return
        if f"ride:{request_id}" not in self.sim.stats.counts:
            await self._cancel(request_id)
        self.sim.stats.counts.pop(f"ride:{request_id}", None)

    async def _cancel(self, request_id):
        data, error = await self.client.rest("POST", f"/rides/requests/{request_id}/cancel", {})
        self.sim.stats.counts["requests_cancelled" if data is not None else "cancel_failed"] += 1


class Simulation:
    def __init__(self, *, url, drivers, passengers, duration_s, seed, speed_kmh, tick_s, think_s, drain_s, out):
        self.url = url.rstrip("/")
        self.ws_url = self.url.replace("http", "ws", 1) + "/ws/"
        self.n_drivers, self.n_passengers, self.duration_s = drivers, passengers, duration_s
        self.rng = random.Random(seed)
        self.speed_ms, self.tick_s, self.think_s = speed_kmh / 3.6, tick_s, think_s
        self.reject_rate, self.wallet_share, self.request_timeout_s, self.drain_s = 0.1, 0.3, 45, drain_s
        self.out = out
        self.stats = Stats()
        self.tasks = []
        self.stopping = self.stopped = False
        self.leftover_rides, self.leftover_requests = {}, {}
        self.start_positions = {}  # driver id -> (lat, lng) of the live index

    def load_users(self):
        from accounts.models import Role, User
        from accounts.services import tokens_issue
        from matching.models import RideRequest
        from rides.models import Ride

        drivers = list(
            User.objects.filter(msisdn__startswith=DRIVER_MSISDN_PREFIX, role=Role.DRIVER, is_active=True).order_by(
                "msisdn"
            )[: self.n_drivers]
        )
        passengers = list(
            User.objects.filter(msisdn__startswith=PASSENGER_MSISDN_PREFIX, is_active=True).order_by("msisdn")[
                : self.n_passengers
            ]
        )
        if len(drivers) < self.n_drivers or len(passengers) < self.n_passengers:
            raise CommandError(
                f"Found {len(drivers)} seeded drivers and {len(passengers)} passengers; run "
                f"`manage.py seed --drivers {self.n_drivers} --passengers {self.n_passengers}` first."
            )
        from locations.selectors import user_last_position

        ids = [user.pk for user in drivers + passengers]
        for driver in drivers:
            position = user_last_position(user_id=driver.pk)
            if position is not None:
                self.start_positions[str(driver.pk)] = (position.lat, position.lng)
        for ride_id, driver_id, status in Ride.objects.filter(status__in=LIVE_RIDE, driver_id__in=ids).values_list(
            "id", "driver_id", "status"
        ):
            self.leftover_rides.setdefault(str(driver_id), []).append((ride_id, status))
        for request_id, passenger_id in (
            RideRequest.objects.filter(is_open=True, passenger_id__in=ids)
            .exclude(rides__status__in=LIVE_RIDE)
            .values_list("id", "passenger_id")
        ):
            self.leftover_requests.setdefault(str(passenger_id), []).append(request_id)
        return (
            [(user, tokens_issue(user=user)) for user in drivers],
            [(user, tokens_issue(user=user)) for user in passengers],
        )

    async def run(self):
        drivers, passengers = await sync_to_async(self.load_users)()
        self.http = httpx.AsyncClient(
            base_url=self.url, timeout=20, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        try:
            await self._check_server()
            driver_agents = [
                Driver(self, Client(self, u, t), random.Random(self.rng.random()), self.start_positions.get(str(u.pk)))
                for u, t in drivers
            ]
            passenger_agents = [
                Passenger(self, Client(self, u, t), random.Random(self.rng.random())) for u, t in passengers
            ]
            everyone = [agent.client for agent in driver_agents + passenger_agents]
            await asyncio.gather(*(client.connect() for client in everyone))
            started = time.monotonic()
            progress = asyncio.create_task(self._progress(started))
            runs = [asyncio.create_task(agent.run()) for agent in driver_agents + passenger_agents]
            await asyncio.sleep(self.duration_s)
            self.stopping = True  # no new requests; trips under way may finish
            await self._drain(started)
            self.stopped = True
            await asyncio.wait(runs, timeout=5)
            await asyncio.gather(*(agent.finish() for agent in driver_agents), return_exceptions=True)
            progress.cancel()
            await asyncio.gather(*(client.close() for client in everyone), return_exceptions=True)
            for task in self.tasks + runs:
                task.cancel()
            return time.monotonic() - started
        finally:
            await self.http.aclose()

    async def _drain(self, started):
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and any(key.startswith("ride:") for key in self.stats.counts):
            await asyncio.sleep(0.5)

    async def _check_server(self):
        try:
            response = await self.http.get("/health/ready")
        except httpx.HTTPError as exc:
            raise CommandError(f"No server at {self.url} ({exc}); start one with `make run`.") from exc
        if response.status_code != 200:
            raise CommandError(f"{self.url}/health/ready answered {response.status_code}: {response.text[:200]}")

    def progress_line(self, elapsed):
        counts = self.stats.counts
        width = 24
        done = min(width, int(width * elapsed / max(self.duration_s, 1e-9)))
        live = sum(1 for key in counts if key.startswith("ride:"))
        phase = "draining" if self.stopping else f"{elapsed:4.0f}/{self.duration_s:.0f}s"
        return (
            f"[{'#' * done}{'.' * (width - done)}] {phase}  "
            f"requests {counts['requests']}  proposals {counts['proposals']}  live rides {live}  "
            f"completed {counts['rides_completed']}  errors {sum(self.stats.errors.values())}"
        )

    async def _progress(self, started):
        tty = self.out.isatty()
        last = 0.0
        while True:
            await asyncio.sleep(0.5)
            elapsed = time.monotonic() - started
            if tty:
                self.out.write("\r" + self.progress_line(elapsed))
                self.out.flush()
            elif elapsed - last >= 5:
                self.out.write(self.progress_line(elapsed) + "\n")
                last = elapsed

    def summary(self, elapsed):
        counts, latencies = self.stats.counts, self.stats.latencies()
        ms = lambda value: None if value is None else round(value * 1000, 1)  # noqa: E731
        return {
            "url": self.url,
            "drivers": self.n_drivers,
            "passengers": self.n_passengers,
            "duration_s": round(elapsed, 1),
            "requests": counts["requests"],
            "proposals": counts["proposals"],
            "proposals_won": counts["proposals_won"],
            "proposals_lost_race": counts["proposals_lost"],
            "proposals_rejected": counts["proposals_rejected"],
            "confirmed": counts["confirmed"],
            "rides_started": counts["rides_started"],
            "rides_completed": counts["rides_completed"],
            "fares_idr": counts["fares_idr"],
            "requests_no_driver": counts["requests_no_driver"],
            "requests_expired": counts["requests_expired"],
            "requests_cancelled": counts["requests_cancelled"],
            "locations_accepted": counts["locations_accepted"],
            "locations_dropped": counts["locations_dropped"],
            "request_to_proposal_ms": {
                "count": len(latencies),
                "p50": ms(percentile(latencies, 50)),
                "p99": ms(percentile(latencies, 99)),
                "max": ms(max(latencies) if latencies else None),
            },
            "errors": dict(self.stats.errors),
        }


class Command(BaseCommand):
    help = "Drive simulated drivers and passengers against a running server (REST + WebSocket); print a summary."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--drivers", type=int, default=20)
        parser.add_argument("--passengers", type=int, default=10)
        parser.add_argument("--duration", type=float, default=60, help="seconds of new requests (then a short drain)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--speed-kmh",
            type=float,
            default=120,
            help="driving speed, brisk for a demo (the server drops positions implying > 200)",
        )
        parser.add_argument(
            "--drain", type=float, default=90, help="seconds after --duration for confirmed trips to finish"
        )
        parser.add_argument("--tick", type=float, default=1.0, help="seconds between a driver's location updates")
        parser.add_argument("--think", type=float, default=8.0, help="max seconds a passenger waits between trips")
        parser.add_argument("--json", dest="json_path", help="also write the summary as JSON to this file")
        parser.add_argument(
            "--compare",
            action="store_true",
            help="start a stack per dispatch mode (immediate, batched) and play the same seeded "
            "peak and quiet hour against each; print the figures side by side "
            "(gateway/dispatch_compare.py)",
        )
        parser.add_argument("--scale", type=float, default=1.0, help="--compare: scenario size (0.1 for a tiny run)")
        parser.add_argument("--stack-port", type=int, default=8100, help="--compare: the stacks' HTTP port")
        parser.add_argument(
            "--seeds",
            type=int,
            default=1,
            help="--compare: play each scenario for this many seeds from --seed on and print each figure's mean "
            "±sd over them",
        )
        parser.add_argument("--window-ms", type=int, help="--compare: MATCHING_BATCH_WINDOW_MS of the batched stack")
        parser.add_argument("--only", action="append", choices=["peak", "quiet"], help="--compare: only this scenario")

    def handle(self, *args, **options):
        if options["compare"]:
            return self._compare(options)
        if options["drivers"] < 1 or options["passengers"] < 0 or options["duration"] <= 0:
            raise CommandError("Need --drivers >= 1, --passengers >= 0 and --duration > 0.")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
        sim = Simulation(
            url=options["url"],
            drivers=options["drivers"],
            passengers=options["passengers"],
            duration_s=options["duration"],
            seed=options["seed"],
            speed_kmh=options["speed_kmh"],
            tick_s=options["tick"],
            think_s=options["think"],
            drain_s=options["drain"],
            out=sys.stderr,
        )
        elapsed = asyncio.run(sim.run())
        sys.stderr.write("\n")
        summary = sim.summary(elapsed)
        self._print(summary)
        if options["json_path"]:
            with open(options["json_path"], "w") as handle:
                json.dump(summary, handle, indent=2)

    def _compare(self, options):
        from django.conf import settings

        if options["seeds"] < 1:
            raise CommandError("Need --seeds >= 1.")

        from gateway import dispatch_compare

        logging.getLogger("httpx").setLevel(logging.WARNING)
        workdir = settings.VAR_DIR / "compare"
        workdir.mkdir(parents=True, exist_ok=True)
        results = dispatch_compare.compare(
            seed=options["seed"],
            seeds=options["seeds"],
            scale=options["scale"],
            port=options["stack_port"],
            workdir=workdir,
            drain_s=options["drain"],
            only=tuple(options["only"] or ()),
            extra_env={"MATCHING_BATCH_WINDOW_MS": str(options["window_ms"])} if options["window_ms"] else None,
            progress=lambda line: sys.stderr.write(line + "\n"),
        )
        self.stdout.write(dispatch_compare.comparison_table(results))
        if options["json_path"]:
            with open(options["json_path"], "w") as handle:
                json.dump(results, handle, indent=2)

    def _print(self, s):
        latency = s["request_to_proposal_ms"]
        lines = [
            f"simulated {s['drivers']} drivers and {s['passengers']} passengers for {s['duration_s']} s "
            f"against {s['url']}",
            f"  requests {s['requests']}: confirmed {s['confirmed']}, no driver {s['requests_no_driver']}, "
            f"expired {s['requests_expired']}, cancelled {s['requests_cancelled']}",
            f"  proposals {s['proposals']}: won {s['proposals_won']}, lost the race {s['proposals_lost_race']}, "
            f"rejected {s['proposals_rejected']}",
            f"  rides started {s['rides_started']}, completed {s['rides_completed']} (fares {s['fares_idr']:,} IDR)",
            f"  request -> proposal: p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms "
            f"(n={latency['count']})",
            f"  locations accepted {s['locations_accepted']}, dropped {s['locations_dropped']}",
            f"  errors: {sum(s['errors'].values())} {s['errors'] if s['errors'] else ''}",
        ]
        self.stdout.write("\n".join(lines))
