import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from accounts.services import tokens_issue


@pytest.fixture
async def ws():
    """ws(user) -> a WebsocketCommunicator connected to /ws/ as `user`; disconnected after the test."""
    from nebengjek.asgi import application

    opened = []

    async def connect(user):
        tokens = await database_sync_to_async(tokens_issue)(user=user)
        communicator = WebsocketCommunicator(application, "/ws/",
                                             headers=[(b"authorization", f"Bearer {tokens['access']}".encode())])
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        opened.append(communicator)
        return communicator

    yield connect
    for communicator in opened:
        try:
            await communicator.disconnect(timeout=2)
        except (asyncio.TimeoutError, asyncio.CancelledError, RuntimeError):  # already closed by the server
            pass
    # The ORM ran in the sync worker thread of database_sync_to_async: close its persistent connection there,
    # so the test database can be dropped at the end of the run.
    await database_sync_to_async(_close_this_threads_connection)()


def _close_this_threads_connection():
    connection.close()


async def next_of_type(communicator, type, timeout=5):
    """The next message of `type` on the socket, skipping others (acks, unrelated pushes)."""
    async def wait():
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message.get("type") == type:
                return message
    return await asyncio.wait_for(wait(), timeout)
