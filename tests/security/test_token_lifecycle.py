"""Token lifecycle end to end (issue 9, item 3): one sign-in session walked through REST and its socket.

The single cases live beside their code: accounts/tests/test_sign_in.py (expired access on REST, rotated refresh
reused, logout blacklists the refresh) and locations/tests/test_socket_auth.py (expired/refresh/logged-out/suspended
tokens refused at the socket, logout and suspension close open sockets). Here: a whole session in order, and a
suspended user's still-unexpired tokens on REST.
"""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from rest_framework.test import APIClient

from accounts.services import tokens_issue, user_suspend
from accounts.tests.factories import make_driver

db = database_sync_to_async
MSISDN = "+628121239876"


async def open_socket(access):
    from nebengjek.asgi import application

    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {access}".encode())])
    connected, _ = await socket.connect(timeout=5)
    assert connected
    return socket


async def close_code(socket):
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output.get("code")


async def acked(socket, message_id):
    await socket.send_json_to({"type": "ping", "id": message_id})
    return await socket.receive_json_from(timeout=5) == {"type": "ack", "id": message_id}


def post(path, body):
    response = APIClient().post(path, body, format="json")
    return response.status_code, (response.json() if response.content else None)


def sign_in_by_otp(sms_outbox):
    post("/api/v1/auth/otp/request", {"msisdn": MSISDN})
    status, body = post("/api/v1/auth/otp/verify", {"msisdn": MSISDN, "code": sms_outbox.last_code(MSISDN)})
    assert status == 200, body
    return body


def refused(status_and_body):
    status, body = status_and_body
    return (
        status == 401
        and body["error"]["code"] == "token_not_valid"
        and set(body["error"]) == {"code", "message", "details"}
    )


async def test_a_whole_session_sign_in_socket_refresh_logout_ends_everywhere(sms_outbox):
    signed_in = await db(sign_in_by_otp)(sms_outbox)
    socket = await open_socket(signed_in["access"])
    try:
        assert await acked(socket, 1)
        status, rotated = await db(post)("/api/v1/auth/token/refresh", {"refresh": signed_in["refresh"]})
        assert status == 200
        assert await acked(socket, 2)  # refreshing does not touch the open socket

        logout_status, _ = await db(post)("/api/v1/auth/logout", {"refresh": rotated["refresh"]})

        assert logout_status == 204
        assert await close_code(socket) == 4401
        assert refused(await db(post)("/api/v1/auth/token/refresh", {"refresh": signed_in["refresh"]}))
        assert refused(await db(post)("/api/v1/auth/token/refresh", {"refresh": rotated["refresh"]}))
        late_socket = await open_socket(rotated["access"])  # still unexpired, but its session logged out
        assert await close_code(late_socket) == 4401
    finally:
        await db(connections.close_all)()


def test_a_suspended_users_unexpired_access_token_is_refused_on_rest(client_for):
    driver = make_driver()
    client = client_for(driver)
    assert client.get("/api/v1/me").status_code == 200

    user_suspend(user=driver)
    response = client.get("/api/v1/me")

    assert response.status_code in (401, 403)
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_a_suspended_users_refresh_token_is_refused(client_for):
    driver = make_driver()
    tokens = tokens_issue(user=driver)

    user_suspend(user=driver)

    assert refused(post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}))
