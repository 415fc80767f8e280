"""Load generator processes: `python -m bench.loadgen <config.json>`, started by the harness (bench/harness.py).

Protocol with the harness: the process connects what it needs, prints `READY`, waits for a `GO` line on stdin,
runs, writes its result JSON to config["result_path"], prints `DONE`. `idle` waits for a `CLOSE` line instead.
No Django here: plain asyncio + uvloop, raw sockets (bench/wsclient.py) and orjson, so a process costs little CPU
per message. Times are time.perf_counter() inside a process; across processes the harness uses time.time().
"""

import asyncio
import itertools
import random
import resource
import sys
import time
from typing import Any

import orjson
import uvloop

from bench import wsclient

TICK_S = 0.002
MESSAGE_IDS = itertools.count(1)


def percentiles(values):
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50": pick(0.50), "p99": pick(0.99), "max": ordered[-1]}


async def connect_all(config, on_message, tags):
    """Open one socket per (token, tag), `connect_concurrency` handshakes at a time."""
    semaphore = asyncio.Semaphore(config.get("connect_concurrency", 50))
    failures = []

    async def one(token, tag):
        async with semaphore:
            for attempt in range(3):
                try:
                    return await wsclient.connect(
                        host=config["host"], port=config["port"], token=token, on_message=on_message, tag=tag
                    )
                except (TimeoutError, OSError, ConnectionError) as exc:
                    if attempt == 2:
                        failures.append(repr(exc))
                    await asyncio.sleep(0.2)
            return None

    sockets = await asyncio.gather(*(one(token, tag) for token, tag in zip(config["tokens"], tags, strict=True)))
    return [sock for sock in sockets if sock is not None], failures


async def wait_line(expected):
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or not expected or line.strip().split()[0] == expected:
            return line.strip()


def say(word):
    sys.stdout.write(word + "\n")
    sys.stdout.flush()


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- 1. location ingest --------------------------------------------------------------------------------------


async def run_ingest(config):
    """Each socket sends `location` messages; `rate` messages a second in all from this process, spread evenly.

    open loop (default): send on schedule whatever the acks do (honest latency at a given offered rate);
    closed loop: a socket with an un-acked message skips its turn (the rate then finds the server's ceiling).
    """
    pending: dict[int, Any] = {}  # message id -> (sent at, socket index)
    latencies = []
    counts = {"sent": 0, "acked": 0, "accepted": 0, "dropped": 0, "errors": 0, "skipped": 0}
    error_codes: dict[Any, int] = {}
    measuring = {"on": False}
    n = len(config["tokens"])
    positions = [list(p) for p in config["positions"]]
    last_accepted = [None] * n
    outstanding = [0] * n

    def on_message(sock, payload):
        message = orjson.loads(payload)
        sent = pending.pop(message.get("id"), None)
        if sent is None:
            return
        index = sent[1]
        outstanding[index] -= 1
        if message.get("type") == "ack":
            counts["acked"] += 1
            if message.get("accepted"):
                counts["accepted"] += 1
                last_accepted[index] = sent[2]
            else:
                counts["dropped"] += 1
            if measuring["on"]:
                latencies.append(time.perf_counter() - sent[0])
        else:
            counts["errors"] += 1
            code = message.get("error", {}).get("code")
            error_codes[code] = error_codes.get(code, 0) + 1

    sockets, failures = await connect_all(config, on_message, range(n))
    phases = []
    for phase in config["phases"]:
        for key in counts:
            counts[key] = 0
        latencies.clear()
        say("READY")
        await wait_line("GO")
        phases.append(
            await ingest_phase(
                phase, sockets, pending, counts, latencies, measuring, positions, last_accepted, outstanding
            )
        )
        phases[-1]["error_codes"] = dict(error_codes)
        error_codes.clear()
    for sock in sockets:
        sock.close()
    return {
        "connected": len(sockets),
        "connect_failures": failures[:5],
        "connect_failed": len(failures),
        "phases": phases,
        "last_accepted": {config["ids"][i]: p for i, p in enumerate(last_accepted) if p is not None},
    }


async def ingest_phase(phase, sockets, pending, counts, latencies, measuring, positions, last_accepted, outstanding):
    rate, warmup, duration = phase["rate"], phase["warmup"], phase["duration"]
    closed_loop = phase.get("closed_loop", False)
    step = phase.get("step_deg", 1e-6)
    started = time.perf_counter()
    cpu_before = None
    window = {}
    cursor = 0
    live = len(sockets)
    while True:
        now = time.perf_counter()
        elapsed = now - started
        if elapsed >= warmup + duration:
            break
        if not measuring["on"] and elapsed >= warmup:
            measuring["on"] = True
            cpu_before = cpu_seconds()
            window = {**counts, "t": now}
        to_send = int(rate * elapsed) - counts["sent"] - counts["skipped"]
        for _ in range(max(0, min(to_send, live))):
            sock = sockets[cursor]
            index = sock.tag
            cursor = (cursor + 1) % live
            if (closed_loop and outstanding[index]) or not sock.open:
                counts["skipped"] += 1
                continue
            position = positions[index]
            position[0] += random.uniform(-step, step)
            position[1] += random.uniform(-step, step)
            next_id = next(MESSAGE_IDS)
            pending[next_id] = (time.perf_counter(), index, (position[0], position[1]))
            outstanding[index] += 1
            sock.send(
                orjson.dumps(
                    {"type": "location", "id": next_id, "lat": position[0], "lng": position[1], "accuracy_m": 8}
                )
            )
            counts["sent"] += 1
        await asyncio.sleep(TICK_S)
    end = time.perf_counter()
    measured = {key: counts[key] - window.get(key, 0) for key in counts}
    cpu_used = cpu_seconds() - (cpu_before or 0)
    measuring["on"] = False
    drain_until = time.perf_counter() + phase.get("drain", 20.0)  # late acks count for "last accepted" only
    while pending and time.perf_counter() < drain_until:
        await asyncio.sleep(0.05)
    return {
        "window_s": end - window.get("t", end),
        "window": measured,
        "totals": dict(counts),
        "unacked_after_drain": len(pending),
        "latency": percentiles(latencies),
        "latencies": list(latencies),
        "cpu_s": cpu_used,
        "open_sockets": sum(1 for sock in sockets if sock.open),
    }


# --- 5. idle sockets -----------------------------------------------------------------------------------------


async def run_idle(config):
    """Connect and stay idle; count pushed events (`bench.push`, seq 1, 2, … per socket) until told to close."""
    pushes: dict[str, Any] = {"n": 0, "first": None, "last": None, "out_of_order": 0}
    last_seq: dict[Any, int] = {}

    def on_message(sock, payload):
        message = orjson.loads(payload)
        if message.get("type") != "bench.push":
            return
        now = time.time()
        pushes["n"] += 1
        pushes["first"] = pushes["first"] or now
        pushes["last"] = now
        if message.get("seq") != last_seq.get(sock.tag, 0) + 1:
            pushes["out_of_order"] += 1
        last_seq[sock.tag] = message.get("seq")

    sockets, failures = await connect_all(config, on_message, range(len(config["tokens"])))
    say("READY")
    while True:
        word = await wait_line("")
        if word == "COUNT":
            say(str(pushes["n"]))
        elif word in ("CLOSE", ""):
            break
    still_open = sum(1 for sock in sockets if sock.open)
    for sock in sockets:
        sock.close()
    await asyncio.sleep(0.5)
    return {
        "connected": len(sockets),
        "connect_failed": len(failures),
        "connect_failures": failures[:5],
        "open_at_close": still_open,
        "pushes": pushes,
    }


# --- HTTP (nearby) ---------------------------------------------------------------------------------------


class HttpConnection:
    """HTTP/1.1 keep-alive requests over asyncio streams: enough for a fixed JSON API. A connection left idle longer
    than the server keeps it (uvicorn: 5 s) is reopened before the next request, as an HTTP client's pool does,
    instead of failing on the server's close."""

    IDLE_REOPEN_S = 4.0

    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token
        self.last_used = 0.0

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.last_used = time.perf_counter()

    async def request(self, method, path, body=None):
        if time.perf_counter() - self.last_used > self.IDLE_REOPEN_S:
            self.close()
            await self.open()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
        if body is not None:
            payload = orjson.dumps(body)
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            self.writer.write(head.encode() + payload)
        else:
            self.writer.write((head + "\r\n").encode())
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await self.reader.readexactly(length) if length else b""
        self.last_used = time.perf_counter()
        return status, data

    def close(self):
        self.writer.close()


async def run_http(config):
    """`concurrency` connections, each sending the next GET when the last answered (closed loop), for `duration`
    seconds after `warmup`; paths are taken round-robin from config["paths"]."""
    connections = [HttpConnection(config["host"], config["port"], token) for token in config["tokens"]]
    await asyncio.gather(*(conn.open() for conn in connections))
    say("READY")
    await wait_line("GO")
    paths = config["paths"]
    latencies: list[float] = []
    statuses: dict[Any, int] = {}
    started = time.perf_counter()
    warm_end, end = started + config["warmup"], started + config["warmup"] + config["duration"]
    cpu_before = {"v": None}

    async def loop(conn, offset):
        i = offset
        while True:
            now = time.perf_counter()
            if now >= end:
                return
            if now >= warm_end and cpu_before["v"] is None:
                cpu_before["v"] = cpu_seconds()
            status, _ = await conn.request("GET", paths[i % len(paths)])
            i += len(connections)
            if now >= warm_end:
                latencies.append(time.perf_counter() - now)
                statuses[str(status)] = statuses.get(str(status), 0) + 1

    await asyncio.gather(*(loop(conn, k) for k, conn in enumerate(connections)))
    for conn in connections:
        conn.close()
    return {
        "latency": percentiles(latencies),
        "requests": len(latencies),
        "window_s": config["duration"],
        "statuses": statuses,
        "cpu_s": cpu_seconds() - (cpu_before["v"] or 0),
    }


# --- 3. dispatch ---------------------------------------------------------------------------------------------


async def run_dispatch(config):
    """Driver sockets wait for `match.proposal`; passengers (HTTP) each create a request at their driver's position,
    wait for that driver's proposal, cancel, and go again, started at `rate` requests a second in all (open loop)."""
    waiting: dict[
        str, Any
    ] = {}  # request id -> future resolved with the perf_counter at which a driver got its proposal
    early = {}  # proposals that arrived before the POST answered
    proposals = {"n": 0}

    def on_message(sock, payload):
        message = orjson.loads(payload)
        if message.get("type") != "match.proposal":
            return
        proposals["n"] += 1
        now = time.perf_counter()
        request_id = message["match"]["request_id"]
        future = waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result(now)
        elif request_id not in early:
            early[request_id] = now

    sockets, failures = await connect_all(
        {**config, "tokens": config["driver_tokens"]}, on_message, range(len(config["driver_tokens"]))
    )
    passengers = [HttpConnection(config["host"], config["port"], token) for token in config["passenger_tokens"]]
    await asyncio.gather(*(conn.open() for conn in passengers))
    say("READY")
    await wait_line("GO")
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    started = time.perf_counter()
    warm_end, end = started + config["warmup"], started + config["warmup"] + config["duration"]
    free: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(passengers)):
        free.put_nowait(index)
    cpu_before = {"v": None}

    def count(outcome):
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    async def one_request(index, sent_at):
        conn, pickup = passengers[index], config["pickups"][index]
        try:
            t0 = time.perf_counter()
            status, body = await conn.request(
                "POST",
                "/api/v1/rides/requests",
                {
                    "pickup": {"lat": pickup[0], "lng": pickup[1]},
                    "destination": {"lat": pickup[0] + 0.02, "lng": pickup[1] + 0.02},
                },
            )
            if status != 201:
                count(f"create_{status}:{body[:80].decode(errors='replace')}")
                return
            request_id = orjson.loads(body)["id"]
            future = asyncio.get_running_loop().create_future()
            if request_id in early:
                future.set_result(early.pop(request_id))
            waiting[request_id] = future
            try:
                received = await asyncio.wait_for(future, config.get("proposal_timeout", 5.0))
                if t0 >= warm_end and t0 < end:
                    latencies.append(received - t0)
                    count("proposal")
            except TimeoutError:
                count("no_proposal_in_time")
            finally:
                waiting.pop(request_id, None)
            status, body = await conn.request("POST", f"/api/v1/rides/requests/{request_id}/cancel", {})
            if status != 200:
                count(f"cancel_{status}")
        except Exception as exc:  # one bad exchange must not end the run
            count(f"exception:{type(exc).__name__}")
            conn.__init__(config["host"], config["port"], conn.token)
            await conn.open()
        finally:
            free.put_nowait(index)

    tasks = []
    sent = 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if now >= warm_end and cpu_before["v"] is None:
            cpu_before["v"] = cpu_seconds()
        due = int(config["rate"] * (now - started))
        while sent < due:
            if free.empty():
                count("no_free_passenger")
                sent += 1
                continue
            tasks.append(asyncio.ensure_future(one_request(free.get_nowait(), now)))
            sent += 1
        await asyncio.sleep(TICK_S)
    cpu_used = cpu_seconds() - (cpu_before["v"] or 0)
    await asyncio.wait(tasks, timeout=10) if tasks else None
    for sock in sockets:
        sock.close()
    for conn in passengers:
        conn.close()
    return {
        "connected": len(sockets),
        "connect_failed": len(failures),
        "latency": percentiles(latencies),
        "latencies": latencies,
        "outcomes": outcomes,
        "window_s": config["duration"],
        "proposals_received": proposals["n"],
        "cpu_s": cpu_used,
    }


# --- 7. city peak: whole rides ---------------------------------------------------------------------------------


def _iso_to_epoch(text):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class CityDriver:
    __slots__ = ("index", "sock", "http", "position", "busy", "targeted", "accepting")

    def __init__(self, index, sock, http, position):
        self.index, self.sock, self.http, self.position = index, sock, http, list(position)
        self.busy = self.targeted = self.accepting = False


async def run_citypeak(config):
    """Whole rides, open loop, at each phase's rate: a passenger (HTTP) asks for a ride at an idle driver's position;
    drivers (a socket each, streaming positions) accept every proposal they get; the passenger of the request a
    driver won confirms, the driver starts the ride (REST), sends a few positions over the socket, ends it (REST),
    the passenger reads the receipt and rates the driver. Each phase: `warmup` + `duration` s of arrivals, then up to
    `drain` s for the rides still under way to finish (they count only for the phase's in-flight figures)."""
    loop = asyncio.get_running_loop()
    host, port = config["host"], config["port"]
    proposed: dict[str, float] = {}  # request id -> perf_counter of the first proposal read by any driver
    proposal_waiters: dict[str, asyncio.Future] = {}  # request id -> future (first proposal)
    won: dict[str, asyncio.Future] = {}  # request id -> future resolved with the CityDriver whose accept was acked
    socket_acks: dict[int, asyncio.Future] = {}  # message id -> future (location acks during a ride)
    stats: dict[str, int] = {}

    def count(key, n=1):
        stats[key] = stats.get(key, 0) + n

    def on_message(sock, payload):
        message = orjson.loads(payload)
        kind = message.get("type")
        driver = drivers[sock.tag]
        if kind == "match.proposal":
            now = time.perf_counter()
            match = message["match"]
            request_id = match["request_id"]
            if request_id not in proposed:
                proposed[request_id] = now
                waiter = proposal_waiters.get(request_id)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
            expires = match.get("expires_at")
            if expires and _iso_to_epoch(expires) <= time.time():
                count("proposals_after_expiry")
            if driver.busy or driver.accepting:
                count("proposals_declined_busy")
                return
            pickup = match.get("pickup") or {}
            if (
                abs(pickup.get("lat", 0) - driver.position[0]) > 1.5e-3
                or abs(pickup.get("lng", 0) - driver.position[1]) > 1.5e-3
            ):
                count("proposals_ignored_far")  # the request aimed at another driver, who accepts it
                return
            driver.accepting = True
            message_id = next(MESSAGE_IDS)
            accepts[message_id] = (driver, request_id)
            sock.send(orjson.dumps({"type": "match.accept", "id": message_id, "match_id": match["id"]}))
            return
        if kind in ("ack", "error"):
            message_id = message.get("id")
            accept = accepts.pop(message_id, None)
            if accept is not None:
                driver, request_id = accept
                driver.accepting = False
                if kind == "ack":
                    driver.busy = True
                    future = won.get(request_id)
                    if future is not None and not future.done():
                        future.set_result(driver)
                    else:  # the passenger gave up already: this ride is never confirmed
                        driver.busy = False
                        count("accepted_after_passenger_left")
                else:
                    code = message.get("error", {}).get("code")
                    count(f"accept_refused:{code}")
                    if code == "internal_error":
                        count("socket_5xx")
                return
            waiter = socket_acks.pop(message_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
            elif kind == "error":
                count(f"socket_error:{message.get('error', {}).get('code')}")

    accepts = {}
    tokens = config["driver_tokens"]
    sockets, failures = await connect_all({**config, "tokens": tokens}, on_message, range(len(tokens)))
    by_tag = {sock.tag: sock for sock in sockets}
    drivers = [
        CityDriver(i, by_tag.get(i), HttpConnection(host, port, token), position)
        for i, (token, position) in enumerate(zip(tokens, config["driver_positions"], strict=True))
    ]
    passengers = [HttpConnection(host, port, token) for token in config["passenger_tokens"]]
    await asyncio.gather(*(conn.open() for conn in passengers), *(d.http.open() for d in drivers))
    free_passengers = list(range(len(passengers)))
    random.Random(7).shuffle(free_passengers)
    rng = random.Random(11)

    async def http(conn, method, path, body=None):
        try:
            status, data = await conn.request(method, path, body)
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            count("http_connection_error")
            conn.close()
            await conn.open()
            return 0, b""
        if status == 503 and b"dispatch_overloaded" in data:
            count("http_503_shed")  # the door's graceful refusal, not a server error
        elif status >= 500:
            count("http_5xx")
            count(f"http_{status}:{method} {path.split('/')[3]}")
        return status, data

    async def socket_call(driver, message, timeout=10.0):
        message_id = next(MESSAGE_IDS)
        future = loop.create_future()
        socket_acks[message_id] = future
        driver.sock.send(orjson.dumps({**message, "id": message_id}))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            socket_acks.pop(message_id, None)
            count("socket_ack_timeout")
            return None

    async def stream_positions(stop):
        """Idle drivers send their position every `stream_interval` s, spread over the interval."""
        interval = config.get("stream_interval", 5.0)
        while not stop.is_set():
            started = time.perf_counter()
            for driver in drivers:
                if stop.is_set():
                    return
                if not driver.busy and driver.sock is not None and driver.sock.open:
                    lat, lng = driver.position
                    driver.sock.send(orjson.dumps({"type": "location", "lat": lat, "lng": lng, "accuracy_m": 8}))
                await asyncio.sleep(interval / max(1, len(drivers)))
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))

    async def one_ride(phase_stats, passenger_index, t_offered):
        conn = passengers[passenger_index]
        record = phase_stats["record"]
        target = None
        idle = [d for d in drivers if not d.busy and not d.targeted and d.sock is not None and d.sock.open]
        try:
            if idle:
                target = rng.choice(idle)
                target.targeted = True
                lat = target.position[0] + rng.uniform(-1.5e-4, 1.5e-4)
                lng = target.position[1] + rng.uniform(-1.5e-4, 1.5e-4)
            else:
                lat, lng = rng.uniform(-6.37, -6.09), rng.uniform(106.69, 106.98)
                record("no_idle_driver_to_aim_at")
            t0 = time.perf_counter()
            status, body = await http(
                conn,
                "POST",
                "/api/v1/rides/requests",
                {"pickup": {"lat": lat, "lng": lng}, "destination": {"lat": lat + 0.02, "lng": lng + 0.01}},
            )
            if status == 503:
                record("shed_503")
                return
            if status != 201:
                record(f"create_{status}")
                return
            request_id = orjson.loads(body)["id"]
            proposal = loop.create_future()
            if request_id in proposed:
                proposal.set_result(proposed[request_id])
            proposal_waiters[request_id] = proposal
            winner = won[request_id] = loop.create_future()
            try:
                at = await asyncio.wait_for(asyncio.shield(proposal), config["proposal_timeout"])
                phase_stats["proposal_latencies"].append(at - t0)
                driver = await asyncio.wait_for(winner, config["proposal_timeout"])
            except TimeoutError:
                record("unmatched" if not proposal.done() else "proposed_not_accepted")
                await http(conn, "POST", f"/api/v1/rides/requests/{request_id}/cancel", {})
                return
            finally:
                proposal_waiters.pop(request_id, None)
                won.pop(request_id, None)
                proposed.pop(request_id, None)
            try:
                status, body = await http(conn, "POST", f"/api/v1/rides/requests/{request_id}/confirm", {})
                if status != 201:
                    record(f"confirm_{status}")
                    return
                ride_id = orjson.loads(body)["id"]
                status, _ = await http(driver.http, "POST", f"/api/v1/rides/{ride_id}/start", {})
                if status != 200:
                    record(f"start_{status}")
                    await http(conn, "POST", f"/api/v1/rides/{ride_id}/cancel", {})
                    return
                for _ in range(config["ride_locations"]):
                    await asyncio.sleep(config["location_interval"])
                    driver.position[0] += 4e-5  # ~4.4 m north each time
                    answer = await socket_call(
                        driver,
                        {"type": "location", "lat": driver.position[0], "lng": driver.position[1], "accuracy_m": 8},
                    )
                    if answer is None or answer.get("type") != "ack":
                        record("ride_location_not_acked")
                status, _ = await http(driver.http, "POST", f"/api/v1/rides/{ride_id}/end", {})
                if status != 200:
                    record(f"end_{status}")
                    return
            finally:
                driver.busy = False
            phase_stats["completed_at"].append(time.perf_counter())
            status, _ = await http(conn, "GET", f"/api/v1/rides/{ride_id}/receipt")
            if status != 200:
                record(f"receipt_{status}")
            status, _ = await http(conn, "POST", f"/api/v1/rides/{ride_id}/rating", {"stars": 5})
            if status != 201:
                record(f"rating_{status}")
            phase_stats["cycle_s"].append(time.perf_counter() - t_offered)
        except Exception as exc:  # one bad exchange must not end the run
            record(f"exception:{type(exc).__name__}")
        finally:
            if target is not None:
                target.targeted = False
            free_passengers.append(passenger_index)

    stop_streaming = asyncio.Event()
    streamer = asyncio.ensure_future(stream_positions(stop_streaming))
    phases = []
    for phase in config["phases"]:
        stats.clear()
        outcomes: dict[str, int] = {}

        def record(key, outcomes=outcomes):
            outcomes[key] = outcomes.get(key, 0) + 1

        phase_stats: dict[str, Any] = {"record": record, "proposal_latencies": [], "completed_at": [], "cycle_s": []}
        say("READY")
        await wait_line("GO")
        rate = phase["rate"]
        started = time.perf_counter()
        warm_end, end = started + phase["warmup"], started + phase["warmup"] + phase["duration"]
        tasks, offered, offered_in_window, cpu_before, cpu_after, stats_before = [], 0, 0, None, None, {}
        window_latencies_from = None
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if now >= warm_end and cpu_before is None:
                cpu_before = cpu_seconds()
                window_latencies_from = len(phase_stats["proposal_latencies"])
                stats_before = dict(stats)
            due = int(rate * (now - started))
            while offered < due:
                offered += 1
                in_window = now >= warm_end
                offered_in_window += in_window
                if not free_passengers:
                    record("no_free_passenger")
                    continue
                tasks.append(asyncio.ensure_future(one_ride(phase_stats, free_passengers.pop(), now)))
            await asyncio.sleep(TICK_S)
        cpu_after = cpu_seconds()
        in_flight = sum(1 for task in tasks if not task.done())
        if tasks:
            await asyncio.wait(tasks, timeout=phase["drain"])
        still = [task for task in tasks if not task.done()]
        for task in still:
            task.cancel()
        window = [t for t in phase_stats["completed_at"] if warm_end <= t < end]
        latencies = phase_stats["proposal_latencies"][window_latencies_from or 0 :]
        phases.append(
            {
                "rate": rate,
                "window_s": phase["duration"],
                "offered_in_window": offered_in_window,
                "completed_in_window": len(window),
                "completed_total": len(phase_stats["completed_at"]),
                "in_flight_at_end": in_flight,
                "not_done_after_drain": len(still),
                "proposal_latencies": latencies,
                "outcomes": outcomes,
                "counts": {k: v - stats_before.get(k, 0) for k, v in stats.items()},
                "cycle_p50_s": percentiles(phase_stats["cycle_s"]).get("p50"),
                "loadgen_cpu_s": (cpu_after - cpu_before) if cpu_before is not None else None,
                "sockets_open": sum(1 for sock in sockets if sock.open),
                "socket_close_codes": _close_codes(sockets),
            }
        )
    stop_streaming.set()
    streamer.cancel()
    for sock in sockets:
        sock.close()
    for conn in [*passengers, *(d.http for d in drivers)]:
        conn.close()
    return {
        "connected": len(sockets),
        "connect_failed": len(failures),
        "connect_failures": failures[:5],
        "phases": phases,
    }


def _close_codes(sockets):
    codes: dict[str, int] = {}
    for sock in sockets:
        if not sock.open:
            codes[str(sock.close_code)] = codes.get(str(sock.close_code), 0) + 1
    return codes


RUNNERS = {"ingest": run_ingest, "idle": run_idle, "http": run_http, "dispatch": run_dispatch, "citypeak": run_citypeak}


def main():
    config = orjson.loads(open(sys.argv[1], "rb").read())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(RUNNERS[config["mode"]](config))
    with open(config["result_path"], "wb") as out:
        out.write(orjson.dumps(result))
    say("DONE")


if __name__ == "__main__":
    main()
