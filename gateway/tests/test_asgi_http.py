"""Django behind the ASGI application, as uvicorn serves it: the middleware chain and the view run together in one
thread per request (gateway.asgi.OneHopASGIHandler), with the behaviour the test client sees."""

import orjson
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from accounts.services import tokens_issue
from accounts.tests.factories import make_passenger


async def asgi(method, path, *, token=None, body=b"", headers=()):
    from nebengjek.asgi import application

    headers = [
        (b"host", b"localhost"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    response = await HttpCommunicator(application, method, path, body=body, headers=headers).get_response(timeout=5)
    return response["status"], orjson.loads(response["body"]), {k.lower(): v for k, v in response["headers"]}


async def test_a_write_through_the_asgi_app_commits_and_each_answer_carries_a_request_id():
    passenger = await database_sync_to_async(make_passenger)()
    token = (await database_sync_to_async(tokens_issue)(user=passenger))["access"]

    status, _, headers = await asgi(
        "PATCH",
        "/api/v1/me",
        token=token,
        body=orjson.dumps({"full_name": "Siti Rahma"}),
        headers=[(b"x-request-id", b"req-42")],
    )
    assert status == 200 and headers[b"x-request-id"] == b"req-42"

    status, body, headers = await asgi("GET", "/api/v1/me", token=token)
    assert status == 200 and body["full_name"] == "Siti Rahma" and len(headers[b"x-request-id"]) == 32


async def test_bad_input_through_the_asgi_app_is_a_400_in_the_error_shape():
    status, body, _ = await asgi("POST", "/api/v1/auth/otp/request", body=b"{nope")

    assert status == 400 and body["error"]["code"] == "malformed_json"
