"""A client that stops reading (issue 20, item 16): the server keeps a bounded queue of pushes for it, then closes
the socket with 4408; the client reconnects, resumes by seq and gets everything; nobody logs an ERROR.

The client's side is a WebsocketCommunicator whose output queue is bounded: once it holds WRITE_BUFFER messages, the
application's `send` waits, as it does on a real server whose write buffer is full (tests/reliability has the real
uvicorn version)."""

import asyncio
import logging
import time

import orjson
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from prometheus_client import REGISTRY

from accounts.services import tokens_issue
from accounts.tests.factories import make_passenger
from nebengjek.realtime import send_events_on_commit

db = database_sync_to_async
WRITE_BUFFER = 8
QUEUE_MAX = 20
PUSHED = 200


def slow_closes():
    return REGISTRY.get_sample_value("nebengjek_ws_slow_consumers_closed_total") or 0


def push(user, count, start=0):
    send_events_on_commit([([user.pk], "test.flood", {"n": n, "pad": "x" * 200}) for n in range(start, start + count)])


async def open_socket(token, *, write_buffer=None):
    from nebengjek.asgi import application

    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
    if write_buffer is not None:
        socket._output_queue = asyncio.Queue(maxsize=write_buffer)  # full: the client is not reading
    assert (await socket.connect(timeout=5))[0]
    return socket


async def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the deadline"
        await asyncio.sleep(0.02)


async def read_until_closed(socket):
    events = []
    while True:
        output = await socket.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return events, output
        events.append(orjson.loads(output["text"]))


async def test_a_client_that_stops_reading_is_closed_with_4408_and_resume_delivers_everything(settings, caplog):
    settings.WS_SEND_QUEUE_MAX_MESSAGES = QUEUE_MAX
    user = await db(make_passenger)()
    token = (await db(tokens_issue)(user=user))["access"]
    closes_before = slow_closes()
    slow = await open_socket(token, write_buffer=WRITE_BUFFER)

    with caplog.at_level(logging.INFO):
        # when many more events are pushed than the server's write buffer holds, and the client reads nothing
        await db(push)(user, PUSHED)
        await wait_until(lambda: slow_closes() > closes_before)
        received, close = await read_until_closed(slow)

        # then it was closed with 4408 after at most the write buffer, one send in flight and the bounded queue
        assert close == {"type": "websocket.close", "code": 4408, "reason": "slow_consumer"}
        assert 0 < len(received) <= WRITE_BUFFER + 1 + QUEUE_MAX
        seqs = [event["seq"] for event in received]
        assert seqs == list(range(1, len(received) + 1))

        # and a new socket that resumes after the last seq seen gets every other event, once, in order
        await slow.disconnect()
        fresh = await open_socket(token)
        await fresh.send_json_to({"type": "resume", "after": seqs[-1], "id": "r"})
        replayed = []
        while (message := await fresh.receive_json_from(timeout=5)).get("type") != "ack":
            replayed.append(message["seq"])
        await fresh.disconnect()
    await db(connections.close_all)()

    assert replayed == list(range(seqs[-1] + 1, PUSHED + 1))
    assert message == {"type": "ack", "id": "r", "replayed": PUSHED - seqs[-1], "last_seq": PUSHED}
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


async def test_a_client_that_reads_slowly_but_keeps_up_is_not_closed(settings):
    settings.WS_SEND_QUEUE_MAX_MESSAGES = QUEUE_MAX
    user = await db(make_passenger)()
    token = (await db(tokens_issue)(user=user))["access"]
    socket = await open_socket(token, write_buffer=WRITE_BUFFER)

    for batch in range(5):  # each batch fits the write buffer and the queue together
        await db(push)(user, WRITE_BUFFER + QUEUE_MAX // 2, start=batch * 100)
        for _ in range(WRITE_BUFFER + QUEUE_MAX // 2):
            assert (await socket.receive_json_from(timeout=5))["type"] == "test.flood"

    await socket.send_json_to({"type": "ping", "id": 1})
    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}
    await socket.disconnect()
    await db(connections.close_all)()


class ClientGoneAfter(asyncio.Queue):
    """The server's side of a connection whose client vanishes after `count` messages: sending then raises, as
    uvicorn's send does once the connection is lost."""

    def __init__(self, count):
        super().__init__()
        self.count = count

    async def put(self, item):
        from uvicorn.protocols.utils import ClientDisconnected

        if self.count <= 0:
            raise ClientDisconnected()
        self.count -= 1
        await super().put(item)


async def test_a_resume_replay_cut_off_by_the_client_going_away_logs_no_error(caplog):
    from nebengjek.asgi import application

    user = await db(make_passenger)()
    token = (await db(tokens_issue)(user=user))["access"]
    await db(push)(user, 50)
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
    socket._output_queue = ClientGoneAfter(11)  # the accept and ten replayed events, then the connection is lost
    assert (await socket.connect(timeout=5))[0]

    with caplog.at_level(logging.INFO):
        await socket.send_json_to({"type": "resume", "after": 0, "id": "r"})
        replayed = [await socket.receive_json_from(timeout=5) for _ in range(10)]
        await socket.send_input({"type": "websocket.disconnect", "code": 1006})
        await socket.wait(timeout=5)  # the consumer ends on its own, without an exception
    await db(connections.close_all)()

    assert [event["seq"] for event in replayed] == list(range(1, 11))
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text
