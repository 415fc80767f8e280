from channels.db import database_sync_to_async

from accounts.tests.factories import make_driver


async def test_ping_is_acked(ws):
    driver = await database_sync_to_async(make_driver)()
    socket = await ws(driver)

    await socket.send_json_to({"type": "ping", "id": 1})

    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}


async def test_location_is_acked_with_accepted(ws):
    driver = await database_sync_to_async(make_driver)()
    socket = await ws(driver)

    await socket.send_json_to({"type": "location", "id": "a", "lat": -6.2, "lng": 106.8})

    assert await socket.receive_json_from(timeout=5) == {"type": "ack", "id": "a", "accepted": True}
