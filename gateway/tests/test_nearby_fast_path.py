"""GET /drivers/nearby through the ASGI application: the fast path (gateway.nearby) answers what it can vouch for,
Django answers the rest, and a client cannot tell them apart except by speed."""

import orjson
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from accounts.services import tokens_issue, user_reinstate, user_suspend
from accounts.tests.factories import make_driver, make_passenger
from locations.tests.helpers import MONAS, driver_online_at, north_of

QUERY = f"lat={MONAS[0]}&lng={MONAS[1]}"


async def asgi_get(path, token=None):
    from nebengjek.asgi import application

    headers = [(b"host", b"localhost")] + ([(b"authorization", f"Bearer {token}".encode())] if token else [])
    response = await HttpCommunicator(application, "GET", path, headers=headers).get_response(timeout=5)
    return response["status"], orjson.loads(response["body"]), dict(response["headers"])


def answered_by_django(headers):
    return b"allow" in headers  # DRF's APIView sets Allow; the fast path does not


async def signed_in(user):
    return (await database_sync_to_async(tokens_issue)(user=user))["access"]


async def test_the_fast_path_answers_a_valid_request_with_the_views_body(client_for):
    near = await database_sync_to_async(lambda: driver_online_at(make_driver(), north_of(MONAS, 300)))()
    passenger = await database_sync_to_async(make_passenger)()

    status, body, headers = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", await signed_in(passenger))

    via_django = await database_sync_to_async(
        lambda: client_for(passenger).get(f"/api/v1/drivers/nearby?{QUERY}").json()
    )()
    assert status == 200 and not answered_by_django(headers) and headers[b"content-type"] == b"application/json"
    assert body == via_django and [driver["id"] for driver in body["drivers"]] == [str(near.id)]


async def test_a_user_suspended_after_a_search_is_refused_at_once():
    passenger = await database_sync_to_async(make_passenger)()
    token = await signed_in(passenger)
    assert (await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", token))[0] == 200

    await database_sync_to_async(user_suspend)(user=passenger)
    status, body, _ = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", token)

    assert status == 401 and body["error"]["code"] == "token_not_valid"


async def test_a_reinstated_user_who_signed_in_again_is_answered_by_the_fast_path_again():
    passenger = await database_sync_to_async(make_passenger)()
    await signed_in(passenger)
    await database_sync_to_async(user_suspend)(user=passenger)
    await database_sync_to_async(user_reinstate)(user=passenger)
    token = await signed_in(passenger)  # suspension ended the old sessions for good

    status, _, headers = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}", token)

    assert status == 200 and not answered_by_django(headers)


async def test_a_request_without_a_token_gets_djangos_401():
    status, body, _ = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}")

    assert status == 401 and body["error"]["code"] == "not_authenticated"


async def test_a_bad_query_gets_djangos_400_naming_the_field():
    passenger = await database_sync_to_async(make_passenger)()

    status, body, _ = await asgi_get("/api/v1/drivers/nearby?lat=abc&lng=106.8", await signed_in(passenger))

    assert status == 400 and "lat" in body["error"]["details"]


async def test_a_radius_beyond_the_maximum_gets_djangos_400():
    passenger = await database_sync_to_async(make_passenger)()

    status, body, _ = await asgi_get(f"/api/v1/drivers/nearby?{QUERY}&radius_m=5001", await signed_in(passenger))

    assert status == 400 and "radius_m" in body["error"]["details"]
