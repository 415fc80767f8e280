import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from accounts.services import tokens_issue


@pytest.fixture
async def ws():
    """ws(user=None, *, token=None, via="header"|"query", headers=()) -> a connected WebsocketCommunicator.

    The communicator carries `.tokens` (the sign-in it used) and is disconnected after the test.
    """
    from nebengjek.asgi import application

    opened = []

    async def connect(user=None, *, token=None, via="header", headers=(), expect_connected=True):
        tokens = None
        if user is not None and token is None:
            tokens = await database_sync_to_async(tokens_issue)(user=user)
            token = tokens["access"]
        path, all_headers = "/ws/", list(headers)
        if token is not None and via == "header":
            all_headers.append((b"authorization", f"Bearer {token}".encode()))
        elif token is not None:
            path = f"/ws/?token={token}"
        communicator = WebsocketCommunicator(application, path, headers=all_headers)
        communicator.tokens = tokens
        communicator.user_id = str(user.pk) if user is not None else None
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect_connected
        opened.append(communicator)
        return communicator

    yield connect
    for communicator in opened:
        try:
            await communicator.disconnect(timeout=2)
        except Exception:  # already closed by the server
            pass
    await database_sync_to_async(connections.close_all)()  # the worker thread's connection, before the DB drops
