"""A REST access token stops working the moment its sign-in session ends (logout, suspension, an operator's revoke):
the authentication reads the session id in Redis' revoked sessions (one round trip, no database query); Redis down
is a 503; after a Redis flush the database answers until the sweeper has rebuilt the revoked sessions."""

from channels.db import database_sync_to_async
from django.test import Client
from rest_framework.test import APIClient, APIRequestFactory

from accounts.authentication import SessionJWTAuthentication
from accounts.models import SignInSession
from accounts.services import user_suspend
from accounts.tasks import revoked_sessions_repair
from accounts.tests.factories import make_driver, make_passenger
from gateway.tests.test_nearby_fast_path import QUERY, answered_by_django, asgi_get
from nebengjek.redis import get_redis

ME = "/api/v1/me"


def signed_in_client(client_for, user=None):
    client = client_for(user or make_passenger())
    assert client.get(ME).status_code == 200
    return client


def logout(client):
    assert (
        APIClient().post("/api/v1/auth/logout", {"refresh": client.tokens["refresh"]}, format="json").status_code == 204
    )


def refused_as_token_not_valid(response):
    return response.status_code == 401 and response.json()["error"]["code"] == "token_not_valid"


def operator():
    client = Client()
    client.force_login(make_passenger(msisdn="+628110000019", is_staff=True, is_superuser=True))
    return client


def test_after_logout_the_same_access_token_is_refused_at_once_with_no_database_query(
    client_for, django_assert_num_queries
):
    client = signed_in_client(client_for)
    logout(client)

    with django_assert_num_queries(0):
        response = client.get(ME)

    assert refused_as_token_not_valid(response)


def test_after_suspension_the_access_token_is_refused_at_once_with_no_database_query(
    client_for, django_assert_num_queries
):
    driver = make_driver()
    client = signed_in_client(client_for, driver)
    user_suspend(user=driver)

    with django_assert_num_queries(0):
        response = client.get(ME)

    assert refused_as_token_not_valid(response)


def test_a_session_revoked_in_the_admin_refuses_its_access_token_at_once(client_for):
    user = make_passenger()
    revoked, kept = signed_in_client(client_for, user), signed_in_client(client_for, user)
    sid = SignInSession.objects.order_by("created_at").first().sid

    response = operator().post(
        "/admin/accounts/signinsession/", {"action": "revoke_sessions", "_selected_action": [str(sid)]}
    )

    assert response.status_code == 302
    assert refused_as_token_not_valid(revoked.get(ME))
    assert kept.get(ME).status_code == 200


def test_checking_the_session_adds_no_query_to_authentication(client_for, django_assert_num_queries):
    client = signed_in_client(client_for)
    request = APIRequestFactory().get(ME, HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}")

    with django_assert_num_queries(1):  # the user, as simplejwt always loaded it
        user, _ = SessionJWTAuthentication().authenticate(request)

    assert user.pk == client.user.pk


def test_with_redis_down_an_authenticated_request_is_503_not_let_through(client_for, settings):
    client = signed_in_client(client_for)
    settings.LIVE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get(ME)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable" and "Retry-After" in response


def test_after_a_redis_flush_a_logged_out_token_is_still_refused_by_the_database(client_for):
    client = signed_in_client(client_for)
    logout(client)

    get_redis().flushdb()

    assert refused_as_token_not_valid(client.get(ME))


def test_the_sweeper_rebuilds_the_revoked_sessions_after_a_flush(client_for, django_assert_num_queries):
    client = signed_in_client(client_for)
    logout(client)
    get_redis().flushdb()

    revoked_sessions_repair()
    with django_assert_num_queries(0):
        response = client.get(ME)

    assert refused_as_token_not_valid(response)


def test_a_live_session_is_not_refused_after_a_flush(client_for):
    client = signed_in_client(client_for)
    get_redis().flushdb()

    assert client.get(ME).status_code == 200


async def test_the_nearby_fast_path_refuses_a_logged_out_token_at_once(client_for):
    client = await database_sync_to_async(signed_in_client)(client_for)
    token = client.tokens["access"]
    status, _, headers = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", token)
    assert status == 200 and not answered_by_django(headers)

    await database_sync_to_async(logout)(client)
    status, body, _ = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", token)

    assert status == 401 and body["error"]["code"] == "token_not_valid"


async def test_after_a_redis_flush_the_nearby_path_asks_the_database_and_refuses_a_logged_out_token(client_for):
    client = await database_sync_to_async(signed_in_client)(client_for)
    await database_sync_to_async(logout)(client)

    await database_sync_to_async(get_redis().flushdb)()
    status, body, _ = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", client.tokens["access"])

    assert status == 401 and body["error"]["code"] == "token_not_valid"
