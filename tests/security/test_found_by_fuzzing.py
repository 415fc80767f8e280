"""Bugs the fuzzers found, pinned as plain tests (issue 9, item 8).

A test marked xfail(strict=True) names a bug still open in another domain's file: when the owner fixes it the
test passes, strict xfail turns that into a failure, and the marker is removed here.
"""

import pytest

from accounts.tests.factories import make_driver, make_passenger

POLE = 89.5  # a valid latitude (../shared/API.md: lat in [-90, 90]) that Redis GEO cannot index (|lat| > 85.05113)

# Found: Redis GEO refused |lat| > 85.05113 and the ResponseError surfaced as a 500 (fixed in locations, 2c10b75).


def test_nearby_search_near_the_pole_is_not_a_server_error(client_for):
    response = client_for(make_passenger()).get(f"/api/v1/drivers/nearby?lat={POLE}&lng=0")

    assert response.status_code < 500


def test_a_driver_location_near_the_pole_is_not_a_server_error(client_for):
    driver = client_for(make_driver())
    driver.post("/api/v1/drivers/me/beacon", {"active": True}, format="json")

    response = driver.post("/api/v1/locations", {"lat": POLE, "lng": 10}, format="json")

    assert response.status_code < 500


def test_a_ride_request_near_the_pole_is_not_a_server_error(client_for):
    body = {"pickup": {"lat": POLE, "lng": 0}, "destination": {"lat": 0, "lng": 0}}

    response = client_for(make_passenger()).post("/api/v1/rides/requests", body, format="json")

    assert response.status_code < 500


async def test_a_driver_socket_location_near_the_pole_is_not_a_server_error():
    import orjson
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.db import connections

    from accounts.services import tokens_issue
    from nebengjek.asgi import application

    driver = await database_sync_to_async(make_driver)()
    token = (await database_sync_to_async(tokens_issue)(user=driver))["access"]
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Bearer {token}".encode())])
    await socket.connect()
    try:
        await socket.send_to(text_data='{"type": "beacon", "active": true, "id": 1}')
        await socket.receive_from()
        await socket.send_to(text_data=f'{{"type": "location", "lat": {POLE}, "lng": 10, "id": 2}}')
        reply = orjson.loads(await socket.receive_from())
    finally:
        await socket.disconnect()
        await database_sync_to_async(connections.close_all)()

    assert reply.get("error", {}).get("code") != "server_error", reply


def _documented_200(api_client, path):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]


# Found: /rides and /wallet/transactions were documented as a bare array / one object but answered a page (fixed in
# rides and billing: ListAPIView, so drf-spectacular documents the Paginated* envelope).


@pytest.mark.parametrize("path", ["/api/v1/rides", "/api/v1/wallet/transactions"])
def test_paginated_lists_are_documented_as_pages(api_client, path):
    documented = _documented_200(api_client, path)

    assert "$ref" in documented and documented["$ref"].split("/")[-1].startswith("Paginated")


# Found: JSON booleans and numeric strings were coerced to numbers (`true` -> 1.0): a ride request with booleans as
# coordinates got a 471,749 IDR estimate (issue 20, item 18). Every number a body carries must be a JSON number.

NOT_NUMBERS = [True, "1", "NaN"]
POINT = {"lat": -6.2, "lng": 106.8}


def _ride_request(bad, where):
    body = {"pickup": dict(POINT), "destination": {"lat": -6.21, "lng": 106.8}}
    point, field = where.split(".")
    body[point][field] = bad
    return body


def _number_inputs():
    """(who acts, method path, body with `bad` in one number field, the field as the error names it)."""
    from rides.tests.factories import make_in_progress_ride
    from rides.tests.ratings_helpers import make_completed_ride

    in_progress, completed = make_in_progress_ride(), make_completed_ride()
    yield from (
        (make_passenger(), "/api/v1/rides/requests", lambda bad, w=where: _ride_request(bad, w), where)
        for where in ("pickup.lat", "pickup.lng", "destination.lat", "destination.lng")
    )
    for field in ("lat", "lng", "accuracy_m"):
        yield make_driver(), "/api/v1/locations", lambda bad, f=field: {**POINT, f: bad}, field
    yield in_progress.driver, f"/api/v1/rides/{in_progress.id}/end", lambda bad: {"price_pct": bad}, "price_pct"
    yield completed.passenger, f"/api/v1/rides/{completed.id}/rating", lambda bad: {"stars": bad}, "stars"
    yield make_passenger(), "/api/v1/wallet/topups", lambda bad: {"amount": bad}, "amount"


def _field_named(error, dotted):
    details = error["details"]
    for part in dotted.split("."):
        assert isinstance(details, dict) and part in details, error
        details = details[part]
    return error["message"].startswith(f"{dotted}") or error["code"] == f"invalid_{dotted}"


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=["true", "string", "NaN_string"])
def test_a_number_field_refuses_booleans_and_strings_on_every_endpoint(client_for, bad):
    for user, path, body, field in _number_inputs():
        response = client_for(user).post(path, body(bad), format="json", HTTP_IDEMPOTENCY_KEY="strict-types")

        assert response.status_code == 400, (path, field, bad, response.content)
        assert _field_named(response.json()["error"], field), (path, field, bad, response.json())


def test_a_nan_literal_in_a_body_is_malformed_json(client_for):
    body = '{"pickup": {"lat": NaN, "lng": 106.8}, "destination": {"lat": -6.21, "lng": 106.8}}'

    response = client_for(make_passenger()).post("/api/v1/rides/requests", body, content_type="application/json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("bad", [1, 0, "true", "yes"])
def test_a_driver_beacon_takes_only_true_or_false(client_for, bad):
    response = client_for(make_driver()).post("/api/v1/drivers/me/beacon", {"active": bad}, format="json")

    assert response.status_code == 400 and "active" in response.json()["error"]["details"], response.json()
