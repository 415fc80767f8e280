"""`simulate --compare`: the same seeded city under both dispatch modes (MATCHING_MODE immediate, then batched), side
by side.

For each scenario (a peak where drivers are scarce, a quiet hour) and each mode, a stack (`manage.py runstack`) is
started with that mode on the same database and Redis (flushed between runs), and the same seeded supply and demand
is played against it over REST and the WebSocket: drivers come online at the same points, the same passengers ask
for the same trips at the same offsets (open loop: demand does not depend on how the previous requests went). The
first driver to see a proposal accepts it after a short reaction time; the passenger confirms the first accepted
driver; the driver drives to the pickup and the destination at a fixed speed (one position at each end), starts
and ends the ride, and waits there. A passenger whose request has no accepted driver after PATIENCE_S gives up.

Figures per run: pickup distance (the confirmed driver's, mean and p90), match rate (confirmed / requests),
request -> first proposal and request -> confirmed latency (p50, p99, from the client's clock), driver idle share
(the part of the demand period a driver spent without a confirmed ride), and, in batched mode, the solver's mean
time from /metrics.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import websockets
from django.conf import settings

from locations.geo import haversine_m

MODES = ("immediate", "batched")
PATIENCE_S = 25.0  # a passenger without an accepted driver this long cancels
SPEED_MS = 40.0  # 144 km/h: brisk, under the ingest's speed limit, so a run lasts minutes
REACTION_S = (0.3, 1.0)  # a driver reads a proposal this long before accepting
KEEPALIVE_S = 20.0  # an idle driver re-sends its position this often (LOCATION_FRESH_SECONDS keeps it available)
# Central Jakarta's busy places (lat, lng, weight): drivers wait and passengers ask for rides around them.
CENTRES = [
    (-6.175392, 106.827153, 3),
    (-6.225014, 106.808990, 5),
    (-6.229700, 106.830500, 3),
    (-6.186200, 106.810600, 3),
    (-6.176600, 106.841200, 2),
    (-6.244370, 106.800300, 3),
]
SPREAD_DEG = 0.012  # ~1.3 km standard deviation around a centre


@dataclass(frozen=True)
class PlannedRequest:
    at_s: float
    pickup: tuple[float, float]
    destination: tuple[float, float]


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    drivers: list[tuple[float, float]]  # online and free when the period starts
    requests: list[PlannedRequest]
    # drivers coming free during the period (at_s, point): in a city peak trips that began before it end all along
    arrivals: list[tuple[float, tuple[float, float]]] = field(default_factory=list)


def _point(rng: random.Random) -> tuple[float, float]:
    lat, lng, _ = rng.choices(CENTRES, weights=[c[2] for c in CENTRES])[0]
    return round(rng.gauss(lat, SPREAD_DEG), 6), round(rng.gauss(lng, SPREAD_DEG), 6)


def _offset(point: tuple[float, float], metres: float, bearing: float) -> tuple[float, float]:
    dlat = metres * math.cos(bearing) / 111_195.08
    dlng = metres * math.sin(bearing) / (111_195.08 * math.cos(math.radians(point[0])))
    return round(point[0] + dlat, 6), round(point[1] + dlng, 6)


def scenario_build(
    name: str, *, seed: int, drivers: int, requests: int, duration_s: float, arrivals: int = 0
) -> Scenario:
    """`drivers` at seeded points (the same for every scenario of a seed); `requests` at seeded uniform offsets in
    [0, duration_s), 600-2,000 m trips; `arrivals` more drivers coming free at seeded offsets and points."""
    supply_rng = random.Random(f"{seed}:supply")
    supply = [_point(supply_rng) for _ in range(drivers)]
    rng = random.Random(f"{seed}:{name}")
    offsets = sorted(rng.uniform(0, duration_s) for _ in range(requests))
    demand = []
    for at_s in offsets:
        pickup = _point(rng)
        demand.append(
            PlannedRequest(round(at_s, 3), pickup, _offset(pickup, rng.uniform(600, 2000), rng.uniform(0, 2 * math.pi)))
        )
    arrivals_rng = random.Random(f"{seed}:{name}:arrivals")
    coming = sorted((round(arrivals_rng.uniform(0, duration_s), 3), _point(arrivals_rng)) for _ in range(arrivals))
    return Scenario(name, duration_s, supply, demand, coming)


# The peak: a city-centre rush hour in which drivers are scarce. Requests come at PEAK_RATE a second (city-scale
# rates are 10-40 a second; this one the 2-core machine carries with the simulator on it without shedding much),
# more than the drivers can take: PEAK_DRIVERS free at the start and a third of the request rate coming free as their
# earlier trips end (a simulated trip lasts about a minute, longer than the period: without them none comes back).
PEAK_RATE = 8.0
PEAK_DURATION_S = 60.0
PEAK_DRIVERS = 40
PEAK_ARRIVALS_RATE = PEAK_RATE / 3
QUIET_DURATION_S = 40.0
QUIET_REQUESTS = 10


def scenarios(*, seed: int, scale: float) -> list[Scenario]:
    """The peak (drivers scarce: 2.4 requests for every driver who is or comes free) and the quiet hour (the
    drivers free at the peak's start, few requests); `scale` shrinks or grows both, at the same rates (a tiny run for
    tests: 0.05)."""
    drivers = max(2, round(PEAK_DRIVERS * scale))
    duration = max(3.0, PEAK_DURATION_S * scale)
    return [
        scenario_build(
            "peak",
            seed=seed,
            drivers=drivers,
            requests=max(4, round(PEAK_RATE * duration)),
            duration_s=duration,
            arrivals=round(PEAK_ARRIVALS_RATE * duration),
        ),
        scenario_build(
            "quiet",
            seed=seed,
            drivers=drivers,
            requests=max(2, round(QUIET_REQUESTS * scale)),
            duration_s=max(3.0, QUIET_DURATION_S * scale),
        ),
    ]


# --- figures ------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class RequestRecord:
    sent: float
    proposed: float | None = None
    confirmed: float | None = None
    pickup_m: float | None = None
    outcome: str = "open"


@dataclass
class RunRecord:
    """What one run saw, on the client's monotonic clock (seconds)."""

    started: float = 0.0
    duration_s: float = 0.0
    requests: dict[str, RequestRecord] = field(default_factory=dict)
    failed_requests: int = 0
    busy: dict[str, list[list[float | None]]] = field(default_factory=dict)  # driver -> [[confirmed, ended or None]]
    n_drivers: int = 0
    online_s: dict[str, float] = field(default_factory=dict)  # a driver coming free during the period -> its offset
    errors: dict[str, int] = field(default_factory=dict)
    solver_ms_mean: float | None = None
    windows: int | None = None

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


def run_figures(record: RunRecord) -> dict:
    """The compared figures of one run (None where nothing was measured)."""
    rows = list(record.requests.values())
    confirmed = [row for row in rows if row.confirmed is not None]
    pickups = [row.pickup_m for row in confirmed if row.pickup_m is not None]
    to_proposal = [row.proposed - row.sent for row in rows if row.proposed is not None]
    to_confirmed = [row.confirmed - row.sent for row in rows if row.confirmed is not None]
    asked = len(rows) + record.failed_requests
    return {
        "requests": asked,
        "confirmed": len(confirmed),
        "match_rate": len(confirmed) / asked if asked else None,
        "pickup_m_mean": mean(pickups),
        "pickup_m_p90": percentile(pickups, 90),
        "to_proposal_ms_p50": _ms(percentile(to_proposal, 50)),
        "to_proposal_ms_p99": _ms(percentile(to_proposal, 99)),
        "to_confirmed_ms_p50": _ms(percentile(to_confirmed, 50)),
        "to_confirmed_ms_p99": _ms(percentile(to_confirmed, 99)),
        "driver_idle_share": _idle_share(record),
        "solver_ms_mean": record.solver_ms_mean,
        "windows": record.windows,
        "errors": dict(record.errors),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _idle_share(record: RunRecord) -> float | None:
    """The share of the drivers' time online in the demand period [start, start + duration] spent without a confirmed
    ride (a driver coming free during the period counts from then)."""
    if not record.n_drivers or record.duration_s <= 0:
        return None
    start, end = record.started, record.started + record.duration_s
    online = record.n_drivers * record.duration_s - sum(record.online_s.values())
    busy = 0.0
    for spans in record.busy.values():
        for began, ended in spans:
            assert began is not None
            busy += max(0.0, min(end, ended if ended is not None else end) - max(start, began))
    return 1 - busy / online if online > 0 else None


def figures_over_seeds(per_seed: list[dict]) -> dict:
    """One mode's figures over several seeds: each figure's mean over the seeds that measured it, its sample standard
    deviation under "spread", and every seed's own figures under "per_seed" (one seed: just its figures)."""
    if len(per_seed) == 1:
        return per_seed[0]
    figures: dict = {"spread": {}, "per_seed": per_seed, "errors": {}}
    for key in per_seed[0]:
        if key == "errors":
            for run in per_seed:
                for code, count in run["errors"].items():
                    figures["errors"][code] = figures["errors"].get(code, 0) + count
            continue
        values = [run[key] for run in per_seed if run.get(key) is not None]
        figures[key] = mean(values)
        figures["spread"][key] = statistics.stdev(values) if len(values) > 1 else None
    return figures


ROWS = [  # (label, key, format)
    ("requests", "requests", "{:.0f}"),
    ("confirmed", "confirmed", "{:.0f}"),
    ("match rate", "match_rate", "{:.1%}"),
    ("pickup distance mean (m)", "pickup_m_mean", "{:.0f}"),
    ("pickup distance p90 (m)", "pickup_m_p90", "{:.0f}"),
    ("request -> proposal p50 (ms)", "to_proposal_ms_p50", "{:.0f}"),
    ("request -> proposal p99 (ms)", "to_proposal_ms_p99", "{:.0f}"),
    ("request -> confirmed p50 (ms)", "to_confirmed_ms_p50", "{:.0f}"),
    ("request -> confirmed p99 (ms)", "to_confirmed_ms_p99", "{:.0f}"),
    ("driver idle share", "driver_idle_share", "{:.1%}"),
    ("solver time mean (ms)", "solver_ms_mean", "{:.2f}"),
    ("assignment windows", "windows", "{:.0f}"),
]


def comparison_table(results: dict[str, dict[str, dict]]) -> str:
    """`results[scenario][mode]` (run_figures, or figures_over_seeds) as one table per scenario, the modes side by
    side, with the change from immediate to batched. Over several seeds a cell is "mean ±sd" and the change is the
    mean ±sd of each seed's own change (immediate and batched played the same seeded city)."""
    blocks = []
    for scenario, by_mode in results.items():
        seeds = len(by_mode.get(MODES[0], {}).get("per_seed", [None]))
        width, change_width = (12, 10) if seeds == 1 else (16, 14)
        title = scenario if seeds == 1 else f"{scenario} ({seeds} seeds)"
        header = f"{title:<32}{'immediate':>{width}}{'batched':>{width}}{'change':>{change_width}}"
        lines = [header, "-" * len(header)]
        for label, key, fmt in ROWS:
            cells = [_cell(by_mode.get(mode, {}), key, fmt) for mode in MODES]
            lines.append(
                f"{label:<32}{cells[0]:>{width}}{cells[1]:>{width}}{_row_change(by_mode, key):>{change_width}}"
            )
        errors = {mode: by_mode.get(mode, {}).get("errors") for mode in MODES}
        lines.append(f"{'errors':<32}" + "  ".join(f"{mode}: {errors[mode] or 'none'}" for mode in MODES))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _cell(figures: dict, key: str, fmt: str) -> str:
    value = figures.get(key)
    if value is None:
        return "-"
    spread = figures.get("spread", {}).get(key)
    return fmt.format(value) if spread is None else f"{fmt.format(value)} ±{fmt.format(spread)}"


def _row_change(by_mode: dict[str, dict], key: str) -> str:
    before, after = (by_mode.get(mode, {}) for mode in MODES)
    if "per_seed" not in before or "per_seed" not in after:
        return _change(before.get(key), after.get(key))
    changes = [
        (b[key] - a[key]) / a[key]
        for a, b in zip(before["per_seed"], after["per_seed"], strict=True)
        if a.get(key) and b.get(key) is not None
    ]
    if not changes:
        return ""
    if len(changes) == 1:
        return f"{changes[0]:+.0%}"
    return f"{statistics.mean(changes):+.0%} ±{statistics.stdev(changes):.0%}"


def _change(before, after) -> str:
    if before is None or after is None or before == 0:
        return ""
    return f"{(after - before) / before:+.0%}"


# --- one run --------------------------------------------------------------------------------------------------


class _Client:
    """A simulated user's REST calls and socket."""

    def __init__(self, run: _Run, user_id: str, access: str):
        self.run, self.id, self.access = run, user_id, access
        self.socket: websockets.ClientConnection | None = None
        self.events: asyncio.Queue = asyncio.Queue()
        self._ids = 0
        self._pending: dict[int, asyncio.Future] = {}

    async def rest(self, method: str, path: str, body: dict | None = None) -> tuple[dict | None, str | None]:
        try:
            response = await self.run.http.request(
                method, "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {self.access}"}
            )
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        data = response.json() if response.content else {}
        if response.status_code >= 300:
            return None, (data.get("error") or {}).get("code", str(response.status_code))
        return data, None

    async def connect(self) -> None:
        self.socket = await websockets.connect(f"{self.run.ws_url}?token={self.access}", open_timeout=30)
        self.run.background.append(asyncio.create_task(self._read()))

    async def _read(self) -> None:
        assert self.socket is not None
        try:
            async for raw in self.socket:
                message = orjson.loads(raw)
                if message.get("type") in ("ack", "error") and message.get("id") in self._pending:
                    self._pending.pop(message["id"]).set_result(message)
                else:
                    await self.events.put(message)
        except websockets.ConnectionClosed:
            pass

    async def send(self, message: dict) -> dict | None:
        self._ids += 1
        future = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = future
        assert self.socket is not None
        try:
            await self.socket.send(orjson.dumps({**message, "id": self._ids}).decode())
            return await asyncio.wait_for(future, timeout=15)
        except (websockets.ConnectionClosed, TimeoutError):
            self._pending.pop(self._ids, None)
            self.run.record.error("ws:no_ack")
            return None


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        *,
        url: str,
        drivers: list[tuple[str, str]],
        passengers: list[tuple[str, str]],
        seed: int,
        drain_s: float,
    ):
        self.scenario, self.url, self.drain_s = scenario, url.rstrip("/"), drain_s
        self.ws_url = self.url.replace("http", "ws", 1) + "/ws/"
        self.rng = random.Random(f"{seed}:{scenario.name}:agents")
        self.driver_users, self.passenger_users = drivers, passengers
        self.record = RunRecord(duration_s=scenario.duration_s, n_drivers=len(drivers))
        self.background: list[asyncio.Task] = []
        self.stopped = False

    async def play(self) -> RunRecord:
        self.http = httpx.AsyncClient(
            base_url=self.url, timeout=30, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        try:
            drivers = [_Client(self, user_id, access) for user_id, access in self.driver_users]
            passengers = [_Client(self, user_id, access) for user_id, access in self.passenger_users]
            await asyncio.gather(*(client.connect() for client in drivers + passengers))
            starting = drivers[: len(self.scenario.drivers)]
            here = {client.id: point for client, point in zip(starting, self.scenario.drivers, strict=True)}
            await asyncio.gather(*(self._online(client, here[client.id]) for client in starting))
            self.record.started = time.monotonic()
            agents = [asyncio.create_task(self._driver(client, here[client.id])) for client in starting]
            agents += [
                asyncio.create_task(self._driver_coming_free(client, at_s, point))
                for client, (at_s, point) in zip(drivers[len(starting) :], self.scenario.arrivals, strict=True)
            ]
            trips = [
                asyncio.create_task(self._passenger(client, planned))
                for client, planned in zip(passengers, self.scenario.requests, strict=True)
            ]
            await asyncio.wait(trips)
            await self._drain()
            self.stopped = True
            await asyncio.wait(agents, timeout=10)
            for task in self.background + agents:
                task.cancel()
            await asyncio.gather(*(c.socket.close() for c in drivers + passengers if c.socket), return_exceptions=True)
            await self._read_solver_metrics()
        finally:
            await self.http.aclose()
        return self.record

    async def _online(self, client: _Client, point: tuple[float, float]) -> None:
        reply = await client.send({"type": "beacon", "active": True})
        if reply is None or reply["type"] == "error":
            self.record.error("beacon_refused")
        await client.send({"type": "location", "lat": point[0], "lng": point[1], "accuracy_m": 8})

    async def _driver_coming_free(self, client: _Client, at_s: float, point: tuple[float, float]) -> None:
        """A driver whose earlier trip ends at `point`, `at_s` into the period: online from then on."""
        await asyncio.sleep(max(0.0, self.record.started + at_s - time.monotonic()))
        self.record.online_s[client.id] = at_s
        await self._online(client, point)
        await self._driver(client, point)

    async def _drain(self) -> None:
        """Rides under way finish (bounded by drain_s)."""
        deadline = time.monotonic() + self.drain_s
        while time.monotonic() < deadline and any(
            span[1] is None for spans in self.record.busy.values() for span in spans
        ):
            await asyncio.sleep(0.5)

    async def _passenger(self, client: _Client, planned: PlannedRequest) -> None:
        await asyncio.sleep(max(0.0, self.record.started + planned.at_s - time.monotonic()))
        sent = time.monotonic()
        data, error = await client.rest(
            "POST",
            "/rides/requests",
            {
                "pickup": {"lat": planned.pickup[0], "lng": planned.pickup[1]},
                "destination": {"lat": planned.destination[0], "lng": planned.destination[1]},
                "payment_method": "cash",
            },
        )
        if data is None:
            self.record.failed_requests += 1
            self.record.error(f"request:{error}")
            return
        row = self.record.requests.setdefault(data["id"], RequestRecord(sent=sent))
        row.sent = sent
        deadline = sent + PATIENCE_S
        while True:
            try:
                event = await asyncio.wait_for(client.events.get(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                await client.rest("POST", f"/rides/requests/{data['id']}/cancel", {})
                row.outcome = "gave_up"
                return
            kind = event.get("type")
            if kind == "match.accepted" and event["match"].get("request_id") == data["id"]:
                confirmed, error = await client.rest("POST", f"/rides/requests/{data['id']}/confirm", {})
                if confirmed is None:
                    self.record.error(f"confirm:{error}")
                    row.outcome = "confirm_failed"
                else:
                    row.confirmed, row.outcome = time.monotonic(), "confirmed"
                    row.pickup_m = event["match"].get("distance_to_pickup_m")
                return
            if kind == "request.updated" and event["request"]["id"] == data["id"]:
                if event["request"]["status"] in ("no_driver", "expired", "cancelled"):
                    row.outcome = event["request"]["status"]
                    return

    async def _driver(self, client: _Client, here: tuple[float, float]) -> None:
        rng = random.Random(self.rng.random())
        last_sent = time.monotonic()
        driven: set[str] = set()  # rides already driven (a ride's later pushes are not a new trip)
        while not self.stopped:
            try:
                event = await asyncio.wait_for(client.events.get(), timeout=1.0)
            except TimeoutError:
                if time.monotonic() - last_sent > KEEPALIVE_S:
                    await client.send({"type": "location", "lat": here[0], "lng": here[1], "accuracy_m": 8})
                    last_sent = time.monotonic()
                continue
            kind = event.get("type")
            if kind == "match.proposal":
                request_id = event["match"].get("request_id")
                seen = time.monotonic()
                row = self.record.requests.setdefault(request_id, RequestRecord(sent=seen))
                row.proposed = seen if row.proposed is None else min(row.proposed, seen)
                self.background.append(asyncio.create_task(self._accept(client, event["match"], rng)))
            elif (
                kind == "ride.updated"
                and event["ride"]["status"] == "driver_en_route"
                and event["ride"]["id"] not in driven
            ):
                driven.add(event["ride"]["id"])
                here = await self._ride(client, event["ride"], here)
                last_sent = time.monotonic()

    async def _accept(self, client: _Client, match: dict, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(*REACTION_S))
        if not self.stopped:
            await client.send({"type": "match.accept", "match_id": match["id"]})

    async def _ride(self, client: _Client, ride: dict, here: tuple[float, float]) -> tuple[float, float]:
        """Drive to the pickup, start, drive to the destination, end; the driver is busy from now to the end."""
        span: list[float | None] = [time.monotonic(), None]
        self.record.busy.setdefault(client.id, []).append(span)
        pickup = (ride["pickup"]["lat"], ride["pickup"]["lng"])
        destination = (ride["destination"]["lat"], ride["destination"]["lng"])
        for target, action in ((pickup, "start"), (destination, "end")):
            await asyncio.sleep(haversine_m(*here, *target) / SPEED_MS)
            await client.send({"type": "location", "lat": target[0], "lng": target[1], "accuracy_m": 8})
            here = target
            data, error = await client.rest("POST", f"/rides/{ride['id']}/{action}", {})
            if data is None:
                self.record.error(f"{action}:{error}")
                break
        span[1] = time.monotonic()
        return here

    async def _read_solver_metrics(self) -> None:
        headers = {"Authorization": f"Bearer {settings.METRICS_TOKEN}"} if settings.METRICS_TOKEN else {}
        try:
            text = (await self.http.get("/metrics", headers=headers)).text
        except httpx.HTTPError:
            return
        values: dict[str, float] = {}
        for line in text.splitlines():
            for name in ("nebengjek_dispatch_solve_seconds_sum", "nebengjek_dispatch_solve_seconds_count"):
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        count = values.get("nebengjek_dispatch_solve_seconds_count")
        if count:
            self.record.windows = int(count)
            self.record.solver_ms_mean = values["nebengjek_dispatch_solve_seconds_sum"] / count * 1000


# --- the stacks -----------------------------------------------------------------------------------------------


class Stack:
    """`manage.py runstack` in MATCHING_MODE `mode` on this process's database and Redis."""

    def __init__(self, *, mode: str, port: int, log_path: Path, extra_env: dict[str, str] | None = None):
        self.mode, self.port, self.log_path = mode, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        database = settings.DATABASES["default"]
        env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        if "DATABASE_URL" not in env and database["ENGINE"].endswith("sqlite3"):
            env["DATABASE_URL"] = f"sqlite:///{database['NAME']}"
        env.update(
            {
                "MATCHING_MODE": mode,
                "REDIS_URL": settings.REDIS_URL,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "DJANGO_SETTINGS_MODULE": "nebengjek.settings",
                "VAR_DIR": str(log_path.parent),
                **(extra_env or {}),
            }
        )
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 120) -> None:
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(self.port)],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.mode} stack exited:\n{self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(
            f"the {self.mode} stack was not ready in {timeout_s:.0f} s:\n{self.log_path.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


# --- the whole comparison -------------------------------------------------------------------------------------


def compare(
    *,
    seed: int,
    scale: float,
    port: int,
    workdir: Path,
    drain_s: float,
    seeds: int = 1,
    progress: Callable[[str], object] = lambda line: None,
    extra_env: dict[str, str] | None = None,
    only: tuple[str, ...] = (),
) -> dict:
    """Run every scenario (or those named in `only`) under both modes, for `seeds` seeds from `seed` on;
    `results[scenario][mode]` = figures_over_seeds (one seed: its run_figures). `extra_env`: settings for both stacks
    (e.g. MATCHING_BATCH_WINDOW_MS)."""
    from nebengjek import embedded_redis

    redis_process = (
        embedded_redis.start(settings.EMBEDDED_REDIS_PORT, workdir / "redis") if settings.EMBEDDED_REDIS else None
    )  # the stacks share it (REDIS_URL), this process too
    try:
        return _compare(
            seeds=[seed + n for n in range(seeds)],
            scale=scale,
            port=port,
            workdir=workdir,
            drain_s=drain_s,
            progress=progress,
            extra_env=extra_env,
            only=only,
        )
    finally:
        embedded_redis.stop(redis_process)


def _compare(*, seeds, scale, port, workdir, drain_s, progress, extra_env, only) -> dict:
    from django.core.management import call_command

    from accounts.models import Role, User
    from accounts.services import tokens_issue
    from nebengjek.redis import get_redis

    plans = {
        seed: [scenario for scenario in scenarios(seed=seed, scale=scale) if not only or scenario.name in only]
        for seed in seeds
    }
    n_drivers = max(len(s.drivers) + len(s.arrivals) for plan in plans.values() for s in plan)
    n_passengers = max(sum(len(s.requests) for s in plan) for plan in plans.values()) * len(MODES)
    call_command("migrate", interactive=False, verbosity=0)
    call_command(
        "seed",
        drivers=n_drivers,
        passengers=n_passengers,
        seed=seeds[0],
        offline=True,
        verbosity=0,
        stdout=io.StringIO(),
    )
    drivers = list(
        User.objects.filter(role=Role.DRIVER, msisdn__startswith="+628129", is_active=True).order_by("msisdn")[
            :n_drivers
        ]
    )
    passengers = list(
        User.objects.filter(msisdn__startswith="+628139", is_active=True).order_by("msisdn")[:n_passengers]
    )
    tokens = lambda users: [(str(u.pk), tokens_issue(user=u)["access"]) for u in users]  # noqa: E731
    runs: dict[str, dict[str, list[dict]]] = {}
    for n, (seed, plan) in enumerate(plans.items()):
        used = 0
        for scenario in plan:
            for mode in MODES if n % 2 == 0 else MODES[::-1]:  # a trend in the machine's load favours neither
                leftovers_close([user.pk for user in drivers + passengers])
                get_redis().flushdb()  # the same empty live state (positions, windows, queued timers) for every run
                riders = passengers[used : used + len(scenario.requests)]
                used += len(scenario.requests)
                run_dir = workdir / f"{scenario.name}-{mode}"
                run_dir.mkdir(parents=True, exist_ok=True)
                stack = Stack(mode=mode, port=port, log_path=run_dir / "stack.log", extra_env=extra_env)
                progress(
                    f"seed {seed}, {scenario.name} / {mode}: {len(scenario.drivers)} drivers "
                    f"(+{len(scenario.arrivals)} coming free), {len(scenario.requests)} requests "
                    f"over {scenario.duration_s:.0f} s"
                )
                stack.start()
                try:
                    run = _Run(
                        scenario,
                        url=stack.url,
                        drivers=tokens(drivers[: len(scenario.drivers) + len(scenario.arrivals)]),
                        passengers=tokens(riders),
                        seed=seed,
                        drain_s=drain_s,
                    )
                    record = asyncio.run(run.play())
                finally:
                    stack.stop()
                runs.setdefault(scenario.name, {}).setdefault(mode, []).append(run_figures(record))
    leftovers_close([user.pk for user in drivers + passengers])
    return {scenario: {mode: figures_over_seeds(by_mode[mode]) for mode in MODES} for scenario, by_mode in runs.items()}


def leftovers_close(user_ids: list[uuid.UUID]) -> None:
    """Cancel what a run left open for these users (requests, rides not ended), so the next run starts level."""
    from matching.models import Match, RideRequest
    from matching.services import request_cancel
    from rides.models import Ride, RideStatus
    from rides.services import ride_cancel, ride_end

    for ride in Ride.objects.filter(
        status__in=[RideStatus.DRIVER_EN_ROUTE, RideStatus.IN_PROGRESS], driver_id__in=user_ids
    ).select_related("driver"):
        if ride.status == RideStatus.IN_PROGRESS:
            ride_end(ride=ride, user=ride.driver)
        else:
            ride_cancel(ride=ride, reason="comparison run over")
    for request in RideRequest.objects.filter(is_open=True, passenger_id__in=user_ids).select_related("passenger"):
        request_cancel(request_id=request.id, passenger=request.passenger)
    assert not Match.objects.filter(holds_driver=True, driver_id__in=user_ids).exists(), "a driver is still held"
