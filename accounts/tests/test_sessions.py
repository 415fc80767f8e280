"""Sign-in sessions end everywhere: logout, suspension and an operator's revoke refuse that session's tokens at the
socket handshake and at refresh, whatever the number of the user's other sessions; refreshing keeps a session."""

import uuid
from datetime import timedelta

import time_machine
from channels.db import database_sync_to_async
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import SignInSession
from accounts.tasks import sessions_prune
from accounts.tests.factories import make_driver, make_passenger
from gateway.ws_auth import authenticate

db = database_sync_to_async
MSISDN = "+628121230001"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def sign_in(api_client, sms_outbox):
    api_client.post("/api/v1/auth/otp/request", {"msisdn": MSISDN}, format="json")
    response = api_client.post(
        "/api/v1/auth/otp/verify", {"msisdn": MSISDN, "code": sms_outbox.last_code(MSISDN)}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def post(api_client, path, refresh):
    response = api_client.post(path, {"refresh": refresh}, format="json")
    return response.status_code, (response.json() if response.content else None)


def refused(status_and_body):
    status, body = status_and_body
    return status == 401 and body["error"]["code"] == "token_not_valid"


def operator():
    client = Client()
    client.force_login(make_passenger(msisdn="+628110000009", is_staff=True, is_superuser=True))
    return client


def admin_action(path, action, ids):
    response = operator().post(path, {"action": action, "_selected_action": [str(pk) for pk in ids]})
    assert response.status_code == 302, response.content


async def closed_with(socket):
    output = await socket.receive_output(timeout=5)
    assert output["type"] == "websocket.close", output
    return output.get("code"), output.get("reason")


async def acked(socket):
    await socket.send_json_to({"type": "ping", "id": 1})
    return await socket.receive_json_from(timeout=5) == {"type": "ack", "id": 1}


async def test_logging_out_one_session_refuses_its_socket_while_another_session_connects(api_client, sms_outbox, ws):
    phone = await db(sign_in)(api_client, sms_outbox)
    tablet = await db(sign_in)(api_client, sms_outbox)

    status, _ = await db(post)(api_client, LOGOUT, phone["refresh"])

    assert status == 204
    assert await closed_with(await ws(token=phone["access"])) == (4401, "token_not_valid")
    assert await acked(await ws(token=tablet["access"]))


async def test_a_token_refreshed_before_logout_is_refused_after_it(api_client, sms_outbox, ws):
    signed_in = await db(sign_in)(api_client, sms_outbox)
    status, rotated = await db(post)(api_client, REFRESH, signed_in["refresh"])
    assert status == 200
    assert await acked(await ws(token=rotated["access"]))  # the rotated token keeps its session

    status, _ = await db(post)(api_client, LOGOUT, rotated["refresh"])

    assert status == 204
    assert await closed_with(await ws(token=rotated["access"])) == (4401, "token_not_valid")
    assert await closed_with(await ws(token=signed_in["access"])) == (4401, "token_not_valid")
    assert refused(await db(post)(api_client, REFRESH, rotated["refresh"]))


def sign_in_many(client_for, user, count):
    return [client_for(user).tokens for _ in range(count)]


async def test_a_logged_out_session_is_refused_behind_250_newer_sessions_of_the_user(api_client, client_for, ws):
    user = await db(make_passenger)()
    oldest, *_, newest = await db(sign_in_many)(client_for, user, 251)

    status, _ = await db(post)(api_client, LOGOUT, oldest["refresh"])

    assert status == 204
    assert await closed_with(await ws(token=oldest["access"])) == (4401, "token_not_valid")
    assert await acked(await ws(token=newest["access"]))


async def test_suspension_in_the_admin_refuses_the_handshake(client_for, ws):
    driver = await db(make_driver)()
    tokens = (await db(client_for)(driver)).tokens

    await db(admin_action)("/admin/accounts/user/", "suspend_users", [driver.pk])

    assert await closed_with(await ws(token=tokens["access"])) == (4401, "user_suspended")


async def test_a_reinstated_user_signs_in_again_the_old_sessions_stay_ended(api_client, client_for, ws):
    driver = await db(make_driver)()
    tokens = (await db(client_for)(driver)).tokens
    await db(admin_action)("/admin/accounts/user/", "suspend_users", [driver.pk])

    await db(admin_action)("/admin/accounts/user/", "reinstate_users", [driver.pk])

    assert await closed_with(await ws(token=tokens["access"])) == (4401, "token_not_valid")
    assert refused(await db(post)(api_client, REFRESH, tokens["refresh"]))
    assert await acked(await ws(driver))


async def test_a_session_revoked_in_the_admin_is_refused_at_refresh_and_at_the_socket(api_client, client_for, ws):
    user = await db(make_passenger)()
    phone, tablet = await ws(user), await ws(user)

    await db(admin_action)("/admin/accounts/signinsession/", "revoke_sessions", [token_sid(phone.tokens["access"])])

    assert await closed_with(phone) == (4401, "session_ended")
    assert refused(await db(post)(api_client, REFRESH, phone.tokens["refresh"]))  # not blacklisted: refused by session
    assert await closed_with(await ws(token=phone.tokens["access"])) == (4401, "token_not_valid")
    assert await acked(tablet)
    status, _ = await db(post)(api_client, REFRESH, tablet.tokens["refresh"])
    assert status == 200


def token_sid(access):
    from rest_framework_simplejwt.tokens import AccessToken

    return AccessToken(access)["sid"]


def forget_session_row(tokens):
    """As if the session had signed in before the session table existed (accounts migration 0003)."""
    SignInSession.objects.filter(sid=token_sid(tokens["access"])).delete()


async def test_a_session_from_before_the_session_table_stays_signed_in_until_it_logs_out(api_client, client_for, ws):
    user = await db(make_passenger)()
    tokens = (await db(client_for)(user)).tokens
    await db(forget_session_row)(tokens)
    assert await acked(await ws(token=tokens["access"]))

    status, _ = await db(post)(api_client, LOGOUT, tokens["refresh"])

    assert status == 204
    assert await closed_with(await ws(token=tokens["access"])) == (4401, "token_not_valid")


async def test_a_session_from_before_the_session_table_gets_its_row_at_refresh_and_keeps_it(api_client, client_for, ws):
    user = await db(make_passenger)()
    tokens = (await db(client_for)(user)).tokens
    await db(forget_session_row)(tokens)

    status, rotated = await db(post)(api_client, REFRESH, tokens["refresh"])

    assert status == 200
    assert await db(SignInSession.objects.filter(sid=token_sid(tokens["access"]), revoked_at=None).exists)()
    assert await acked(await ws(token=rotated["access"]))
    assert (await db(post)(api_client, LOGOUT, rotated["refresh"]))[0] == 204
    assert await closed_with(await ws(token=rotated["access"])) == (4401, "token_not_valid")


def test_the_handshake_costs_one_query_however_many_sessions_the_user_has(client_for, django_assert_num_queries):
    user = make_passenger()
    first, *_ = sign_in_many(client_for, user, 50)

    with django_assert_num_queries(1):
        assert authenticate(first["access"])[1] is None


def test_the_admin_lists_sessions_and_shows_one_read_only(client_for):
    tokens = client_for(make_passenger()).tokens
    client = operator()

    pages = [
        "/admin/accounts/signinsession/",
        "/admin/accounts/signinsession/?revoked_at__isempty=0",
        "/admin/accounts/signinsession/?q=%2B62812",
        f"/admin/accounts/signinsession/{token_sid(tokens['access'])}/change/",
    ]

    assert [client.get(page).status_code for page in pages] == [200, 200, 200, 200]


def test_the_prune_task_drops_expired_tokens_and_sessions_and_keeps_a_session_that_refreshed(api_client, sms_outbox):
    start = timezone.now()
    idle = sign_in(api_client, sms_outbox)
    active = sign_in(api_client, sms_outbox)
    with time_machine.travel(start + timedelta(days=6)):
        status, active = post(api_client, REFRESH, active["refresh"])
        assert status == 200
        active_sid = uuid.UUID(token_sid(active["access"]))

    with time_machine.travel(start + timedelta(days=7, minutes=6)):
        pruned = sessions_prune.delay().get()
        assert (post(api_client, REFRESH, active["refresh"]))[0] == 200

    assert pruned == {"tokens": 2, "sessions": 1}  # idle's refresh token and active's first one (rotated out)
    assert set(SignInSession.objects.values_list("sid", flat=True)) == {active_sid}
    assert not OutstandingToken.objects.filter(token=idle["refresh"]).exists()
