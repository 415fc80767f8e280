"""The drill's clients: `manage.py simulate`'s, made to survive a dead node (reconnect through the balancer, send
`resume` with the last seq seen, fetch a gap in seqs over REST), and a probe that records what the drill measures:
REST statuses, location acks (ingest), nearby answers, and every event seq each user received."""

import asyncio
import time
from collections import Counter

import httpx
import orjson
import websockets

from gateway.management.commands.simulate import Client

JAKARTA = (-6.2, 106.8166)
NEARBY_RADIUS_M = 5000
RECONNECT_DELAYS = (0.1, 0.3, 0.6, 1.0, 2.0)


def install(simulate_module) -> None:
    """simulate.Simulation builds its users with the module's `Client`: the drill's instead."""
    simulate_module.Client = DrillClient


class Recorder:
    """Shared by every client of one run."""

    clients: list = []
    rest: list = []  # (monotonic, status as text)
    ingest: list = []  # (monotonic, True when a location was acknowledged as accepted)
    nearby: list = []  # (monotonic, True when nearby answered 200 with drivers)
    marks: list = []
    baseline: dict = {}  # user id -> the last seq stored before the run (earlier runs' events are not this one's)


class DrillClient(Client):
    """simulate's client that reconnects through the balancer and resumes, recording what the drill measures."""

    def __init__(self, sim, user, tokens):
        super().__init__(sim, user, tokens)
        Recorder.clients.append(self)
        self.seen: set[int] = set()
        self.last_seq = self.baseline_seq = Recorder.baseline.get(str(user.pk), 0)
        self.via_recovery = 0  # events that reached this user by resume or a REST gap fill, not live
        self.reconnects = 0
        self.last_drop_at = None
        self.resumed_at = None
        self.connected = False
        self._resume_id = None

    async def rest(self, method, path, body=None, expected=(200, 201, 202, 204)):
        for attempt in range(2):
            try:
                response = await self.sim.http.request(
                    method, "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {self.access}"}
                )
            except httpx.HTTPError:
                Recorder.rest.append((time.monotonic(), "connection_error"))
                return None, "connection_error"
            Recorder.rest.append((time.monotonic(), str(response.status_code)))
            if response.status_code == 401 and attempt == 0 and await self._refresh():
                continue
            break
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if response.status_code not in expected:
            return None, (data.get("error") or {}).get("code", str(response.status_code))
        return data, None

    async def connect(self):
        await self._open()
        self.sim.tasks.append(asyncio.create_task(self._read()))

    async def _open(self):
        self.socket = await websockets.connect(
            f"{self.sim.ws_url}?token={self.access}", max_size=2**22, open_timeout=10
        )
        self.connected = True

    async def send(self, message, wait=True):
        if not self.connected:
            if message.get("type") == "location":
                Recorder.ingest.append((time.monotonic(), False))
            return None
        reply = await super().send(message, wait)
        if message.get("type") == "location":
            Recorder.ingest.append((time.monotonic(), bool(reply and reply.get("accepted"))))
        return reply

    async def _read(self):
        while not self.sim.stopped:
            try:
                async for raw in self.socket:
                    await self._take(orjson.loads(raw))
            except websockets.ConnectionClosed:
                pass
            if self.sim.stopped:
                return
            await self._reconnect()

    async def _take(self, message):
        seq = message.get("seq")
        if isinstance(seq, int):
            if self.last_seq and seq > self.last_seq + 1 and self._resume_id is None:
                asyncio.create_task(self._fill(self.last_seq, seq))
            self._saw(seq, live=self._resume_id is None)
        kind = message.get("type")
        if kind == "ack" and message.get("id") == self._resume_id:
            self._resume_id, self.resumed_at = None, time.monotonic()
            return
        if kind in ("ack", "error") and message.get("id") in self.pending:
            self.pending.pop(message["id"]).set_result(message)
        elif kind != "error" and message.get("type") not in ("ack",):
            await self.events.put(message)

    def _saw(self, seq, *, live):
        if seq not in self.seen:
            self.seen.add(seq)
            self.via_recovery += 0 if live else 1
        self.last_seq = max(self.last_seq, seq)

    async def _fill(self, after, before):
        """A gap in seqs (a push lost on the way): fetch it as a client would, over REST."""
        data, _ = await self.rest("GET", f"/events?after={after}&limit=500")
        for event in (data or {}).get("results", []):
            if event["seq"] < before:
                self._saw(event["seq"], live=False)

    async def _reconnect(self):
        self.connected = False
        self.last_drop_at = time.monotonic()
        for future in self.pending.values():  # sent on the dead socket: no ack will come
            if not future.done():
                future.set_result(None)
        self.pending.clear()
        attempt = 0
        while not self.sim.stopped:
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1
            try:
                await self._open()
            except (TimeoutError, OSError, websockets.WebSocketException):
                continue
            self.reconnects += 1
            self._ids += 1
            self._resume_id = self._ids
            await self.socket.send(
                orjson.dumps({"type": "resume", "after": self.last_seq, "id": self._resume_id}).decode()
            )
            return


class Probe:
    """Asks nearby through the balancer twice a second; keeps every figure the drill reports."""

    def __init__(self, url: str, baseline: dict[str, int]):
        self.url = url
        self.stopped = False
        Recorder.clients, Recorder.rest, Recorder.ingest, Recorder.nearby, Recorder.marks = [], [], [], [], []
        Recorder.baseline = baseline

    def clients(self, sim):
        return list(Recorder.clients)

    def mark(self, what: str) -> None:
        Recorder.marks.append((time.monotonic(), what))

    def stop(self) -> None:
        self.stopped = True

    @property
    def rest_statuses(self) -> Counter:
        return Counter(status for _, status in Recorder.rest)

    def statuses_since(self, since: float, window: float = 30.0) -> Counter:
        return Counter(status for at, status in Recorder.rest if since <= at <= since + window)

    async def run(self, sim) -> None:
        while not Recorder.clients and not self.stopped:
            await asyncio.sleep(0.1)
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            while not self.stopped and not sim.stopped:
                passenger = Recorder.clients[-1]
                try:
                    response = await http.get(
                        "/api/v1/drivers/nearby",
                        params={"lat": JAKARTA[0], "lng": JAKARTA[1], "radius_m": NEARBY_RADIUS_M},
                        headers={"Authorization": f"Bearer {passenger.access}"},
                    )
                    ok = response.status_code == 200 and response.json().get("count", 0) > 0
                except (httpx.HTTPError, ValueError):
                    ok = False
                Recorder.nearby.append((time.monotonic(), ok))
                await asyncio.sleep(0.5)

    def recovery(self, kind: str, since: float, window: float = 60.0) -> dict:
        samples = [(at, ok) for at, ok in getattr(Recorder, kind) if since <= at <= since + window]
        failures = [at for at, ok in samples if not ok]
        if not failures:
            return {"failed_samples": 0, "seconds_to_recover": 0.0, "samples": len(samples)}
        back = next((at for at, ok in samples if ok and at > failures[-1]), None)
        return {
            "failed_samples": len(failures),
            "samples": len(samples),
            "seconds_to_recover": None if back is None else round(back - since, 2),
        }

    async def events_lost(self, sim) -> dict:
        """Each user's stored events against those their client received (live, by resume or by a gap fill); the
        ones stored after the client's last seen seq (the run ended) are fetched as a late client would."""
        lost = recovered = live = after_close = 0
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            for client in Recorder.clients:
                stored = await _stored_seqs(http, client)
                missing = {seq for seq in stored if client.baseline_seq < seq <= client.last_seq} - client.seen
                lost += len(missing)
                after_close += sum(1 for seq in stored if seq > client.last_seq)
                recovered += client.via_recovery
                live += len(client.seen) - client.via_recovery
        return {
            "stored_and_received_live": live,
            "received_by_resume_or_gap_fill": recovered,
            "stored_after_the_run": after_close,
            "lost": lost,
            "sockets_reconnected": sum(client.reconnects for client in Recorder.clients),
        }


async def _stored_seqs(http: httpx.AsyncClient, client) -> list[int]:
    seqs, after = [], 0
    while True:
        response = await http.get(
            "/api/v1/events",
            params={"after": after, "limit": 500},
            headers={"Authorization": f"Bearer {client.access}"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/v1/events answered {response.status_code} for user {client.id}")
        page = response.json()
        seqs += [event["seq"] for event in page["results"]]
        if not page.get("next"):
            return seqs
        after = seqs[-1]


def last_seqs() -> dict[str, int]:
    """Every user's last stored seq now."""
    from django.db.models import Max

    from nebengjek.models import Event

    return {str(row["user_id"]): row["last"] for row in Event.objects.values("user_id").annotate(last=Max("seq"))}
