import asyncio


async def next_of_type(communicator, type, timeout=5):
    """The next message of `type` on the socket, skipping others (acks, unrelated pushes)."""
    async def wait():
        while True:
            message = await communicator.receive_json_from(timeout=timeout)
            if message.get("type") == type:
                return message
    return await asyncio.wait_for(wait(), timeout)
