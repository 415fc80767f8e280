"""The reference server of scenario 1: a bare ASGI WebSocket handler doing a location update's own work, without
Django's request machinery, Channels, the consumer or its limits.

Per message it parses the JSON, checks lat/lng are numbers, submits the update to the same LocationFlusher (the same
ingest script, batched the same way) and acks with the script's verdict. Run under the same uvicorn command line as
the product, it measures on this machine, in the same run, the ceiling the product's socket path is compared with
(issue 8: "a ceiling measured with a bare server doing the same work"). The token's user id is read at the
handshake without checking the signature: a benchmark fixture, never a server.
"""

import os
import time

import django
import jwt
import orjson

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nebengjek.settings")
django.setup()

from locations import live  # noqa: E402  (after django.setup)


def _user_id(scope):
    headers = dict(scope["headers"])
    token = headers.get(b"authorization", b"").decode().partition(" ")[2]
    return str(jwt.decode(token, options={"verify_signature": False})["user_id"])


async def _location(user_id, message, send):
    lat, lng = message.get("lat"), message.get("lng")
    if not isinstance(lat, (int, float)) or not isinstance(lng, (int, float)):
        body = {"type": "error", "id": message.get("id"), "error": {"code": "invalid_input"}}
    else:
        result = await live.flusher().submit(user_id, lat, lng, time.time())
        body = {"type": "ack", "id": message.get("id"), "accepted": result == live.ACCEPTED}
    await send({"type": "websocket.send", "text": orjson.dumps(body).decode()})


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await receive()  # websocket.connect
    user_id = _user_id(scope)
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        await _location(user_id, orjson.loads(event.get("text") or event.get("bytes")), send)
