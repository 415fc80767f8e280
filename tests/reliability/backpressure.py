"""Backpressure (issue 9, item 10; issue 20, item 16): one socket that stops reading does not slow the others, the
server drops it once its bounded queue of pushes is full (close 4408, or the connection reset when even the close
cannot be written), and once it comes back (reconnect + `resume` with its last seq) it receives every event it
missed, in order.

A real uvicorn process (the flags `runstack` uses) serves /ws/. N normal clients (the `websockets` library) read
everything; one raw TCP client with a 4 KB receive buffer reads its first events, then never reads again while
`rounds` rounds each push `flood` padded events to it and one event to every normal client, and every normal client
pings. Asserted: every normal client gets each of its events once, in seq order, and an ack for every ping; the slow
client is dropped by the server, then resumes and gets every missed event once, in order. Latencies are measured
and reported, not asserted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> .venv/bin/python tests/reliability/backpressure.py \
        --normal 20 --rounds 50 --flood 100 --redis-port 6512 --http-port 8850
"""

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.management.commands.runstack import uvicorn_command  # noqa: E402
from tests.reliability.procs import BASE_DIR, PYTHON, RedisServer, django_env  # noqa: E402

PAD = "x" * 8000  # each flood event ~8 KB: a few hundred fill the kernel buffers of the slow socket
EVENT = "test.backpressure"


# --- the server -----------------------------------------------------------------------------------------------------


def start_server(*, env, port, log_path):
    log = open(log_path, "a")
    process = subprocess.Popen(
        uvicorn_command(host="127.0.0.1", port=port, workers=1, python=PYTHON),
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, Path(log_path).read_text()[-3000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("uvicorn did not start")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


# --- the slow client: raw TCP, a tiny receive buffer, a minimal frame reader ----------------------------------------


class RawSocket:
    def __init__(self, port, token):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _exactly(self, count):
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the slow socket"
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_json(self):
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._exactly(2), "big")
        elif length == 127:
            length = int.from_bytes(self._exactly(8), "big")
        assert first & 0x0F == 0x1, f"not a text frame: opcode {first & 0x0F}"
        return json.loads(self._exactly(length))

    def closed_by_server(self, timeout):
        """How the server ended this connection, reading (and dropping) what is left: ("close", code), ("reset",
        None) or ("eof", None); None when it is still open after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return "reset", None
            if not chunk:
                return "eof", None
            self.buffer += chunk
            code = self._close_code()
            if code is not None:
                return "close", code
        return None

    def _close_code(self):
        """Skip whole frames in the buffer; the code of a close frame when one is there."""
        while len(self.buffer) >= 2:
            first, second = self.buffer[0], self.buffer[1]
            length, offset = second & 0x7F, 2
            if length == 126:
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return None
            payload, self.buffer = self.buffer[offset : offset + length], self.buffer[offset + length :]
            if first & 0x0F == 0x8:
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        return None

    def drain_forever(self):
        """Baseline mode: read and drop everything, in a thread, as a healthy client would."""

        def drain():
            try:
                while self.sock.recv(65536):
                    pass
            except OSError:
                pass

        threading.Thread(target=drain, daemon=True).start()

    def close(self):
        self.sock.close()


# --- the normal clients ---------------------------------------------------------------------------------------------


class NormalClients:
    """N `websockets` clients on one event loop in a thread; each records (seq, latency) of its events and ack
    latencies of its pings."""

    def __init__(self, port, tokens):
        self.port, self.tokens = port, tokens
        self.events = [[] for _ in tokens]
        self.acks = [{} for _ in tokens]
        self.sent_pings = [{} for _ in tokens]
        self.loop = asyncio.new_event_loop()
        self.sockets = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self):
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._connect_all(), self.loop).result(60)

    async def _connect_all(self):
        import websockets

        for i, token in enumerate(self.tokens):
            ws = await websockets.connect(
                f"ws://127.0.0.1:{self.port}/ws/",
                additional_headers={"Authorization": f"Bearer {token}"},
                max_size=2**20,
            )
            self.sockets.append(ws)
            self.loop.create_task(self._read(i, ws))

    async def _read(self, i, ws):
        async for text in ws:
            now = time.time()
            message = json.loads(text)
            if message.get("type") == EVENT:
                self.events[i].append((message["seq"], now - message["sent_at"]))
            elif message.get("type") == "ack":
                self.acks[i][message["id"]] = now - self.sent_pings[i][message["id"]]

    def ping_all(self, ping_id):
        async def ping():
            for i, ws in enumerate(self.sockets):
                self.sent_pings[i][ping_id] = time.time()
                await ws.send(json.dumps({"type": "ping", "id": ping_id}))

        asyncio.run_coroutine_threadsafe(ping(), self.loop).result(30)

    def wait_for(self, *, events, pings, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(got) >= events for got in self.events) and all(len(got) >= pings for got in self.acks):
                return True
            time.sleep(0.05)
        return False

    def close(self):
        async def close_all():
            for ws in self.sockets:
                await ws.close()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def resume(port, token, after, expected, timeout):
    """Reconnect and resume after `after`; return the seqs of the replayed events and the resume's ack."""
    import websockets

    seqs = []
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/", additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**20
    ) as ws:
        await ws.send(json.dumps({"type": "resume", "after": after, "id": "resume"}))
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == EVENT:
                    seqs.append(message["seq"])
                elif message.get("id") == "resume":
                    return seqs, message


# --- the run --------------------------------------------------------------------------------------------------------


def people(count):
    from accounts.services import tokens_issue
    from accounts.tests.factories import make_passenger

    users = [make_passenger() for _ in range(count)]
    return users, [tokens_issue(user=user)["access"] for user in users]


def push(slow_user, normal_users, *, flood):
    from nebengjek.realtime import send_events_on_commit

    sent_at = time.time()
    send_events_on_commit(
        [([slow_user.pk], EVENT, {"sent_at": sent_at, "pad": PAD}) for _ in range(flood)]
        + [([user.pk for user in normal_users], EVENT, {"sent_at": sent_at})]
    )


def percentile(values, q):
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 1) if len(values) > 1 else None


def run(
    *, normal, rounds, flood, http_port, redis_url=None, database_url=None, timeout=120, log_path=None, baseline=False
):
    """One run; `baseline=True`: the flooded client keeps reading (the latencies to compare against)."""
    from django.conf import settings

    env = django_env(
        REDIS_URL=redis_url or settings.REDIS_URL,
        DATABASE_URL=database_url or os.environ["DATABASE_URL"],
        CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        WS_SLOW_CLOSE_TIMEOUT_SECONDS=2,
        JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        SECRET_KEY=settings.SECRET_KEY,
    )
    log_path = log_path or Path(settings.VAR_DIR) / "backpressure.log"
    users, tokens = people(normal + 1)
    slow_user, slow_token, normal_users = users[0], tokens[0], users[1:]
    server = start_server(env=env, port=http_port, log_path=log_path)
    clients = NormalClients(http_port, tokens[1:])
    try:
        clients.start()
        slow = RawSocket(http_port, slow_token)
        push(slow_user, [], flood=3)
        read_before_stopping = [slow.read_json() for _ in range(3)]
        last_seq = read_before_stopping[-1]["seq"]
        if baseline:
            slow.drain_forever()
        rss_before = rss_kib(server.pid)
        started = time.monotonic()
        for round_no in range(rounds):  # from here on the slow client never reads
            push(slow_user, normal_users, flood=flood)
            clients.ping_all(round_no)
        delivered = clients.wait_for(events=rounds, pings=rounds, timeout=timeout)
        flood_seconds = time.monotonic() - started
        rss_after = rss_kib(server.pid)
        dropped = None if baseline else slow.closed_by_server(timeout)
        slow.close()
        replayed, resume_ack = asyncio.run(resume(http_port, slow_token, last_seq, rounds * flood, timeout))
        clients.close()
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies = [latency for got in clients.events for _, latency in got]
    ack_latencies = [latency for got in clients.acks for latency in got.values()]
    missed = list(range(last_seq + 1, last_seq + 1 + rounds * flood))
    return {
        "mode": "baseline (flooded client reads)" if baseline else "flooded client stops reading",
        "normal_clients": normal,
        "rounds": rounds,
        "flood_per_round": flood,
        "pushed_to_slow": rounds * flood,
        "all_delivered_in_time": delivered,
        "normal_events_in_order_once": all(
            [seq for seq, _ in got] == sorted({seq for seq, _ in got}) and len(got) == rounds for got in clients.events
        ),
        "pings_acked": sum(len(got) for got in clients.acks),
        "pings_sent": normal * rounds,
        "push_latency_ms_p50": percentile(latencies, 50),
        "push_latency_ms_p99": percentile(latencies, 99),
        "push_latency_ms_max": round(max(latencies) * 1000, 1) if latencies else None,
        "ack_latency_ms_p50": percentile(ack_latencies, 50),
        "ack_latency_ms_p99": percentile(ack_latencies, 99),
        "flood_seconds": round(flood_seconds, 2),
        "slow_dropped_by_server": dropped,
        "slow_last_seq_before_stopping": last_seq,
        "slow_replayed": len(replayed),
        "slow_replayed_in_order_complete": replayed == missed,
        "resume_ack": resume_ack,
        "server_rss_mib_before_after": (rss_before and rss_before // 1024, rss_after and rss_after // 1024),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--flood", type=int, default=100)
    parser.add_argument("--redis-port", type=int, default=6512)
    parser.add_argument("--http-port", type=int, default=8850)
    parser.add_argument("--baseline", action="store_true", help="the flooded client keeps reading (for comparison)")
    args = parser.parse_args()
    with RedisServer(args.redis_port) as redis_server:
        os.environ.update({"REDIS_URL": redis_server.url, "DJANGO_SETTINGS_MODULE": "nebengjek.settings"})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        figures = run(
            normal=args.normal,
            rounds=args.rounds,
            flood=args.flood,
            http_port=args.http_port,
            redis_url=redis_server.url,
            timeout=300,
            baseline=args.baseline,
        )
    print(json.dumps(figures, indent=2, default=str))
    ok = (
        figures["all_delivered_in_time"]
        and figures["normal_events_in_order_once"]
        and (args.baseline or figures["slow_dropped_by_server"] is not None)
        and figures["slow_replayed_in_order_complete"]
        and figures["pings_acked"] == figures["pings_sent"]
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
