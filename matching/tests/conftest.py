import asyncio

import pytest


async def next_of_type(communicator, type, timeout=5):
    """The next message of `type` on the socket, skipping others (acks, unrelated pushes)."""

    async def wait():
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message.get("type") == type:
                return message

    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture(params=["immediate", "batched"])
def matching_mode(request, settings):
    """Run the test under both dispatch modes (settings.MATCHING_MODE; batched: each request's window task runs
    eagerly, at once, as tests run Celery)."""
    settings.MATCHING_MODE = request.param
    return request.param
