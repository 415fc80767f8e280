"""REST twins: beacon, locations, nearby."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.tests.factories import make_driver, make_passenger
from locations.tests.helpers import MONAS, driver_online_at, north_of


def test_a_driver_turns_the_beacon_on_and_off(client_for):
    client = client_for(make_driver())

    assert client.post("/api/v1/drivers/me/beacon", {"active": True}, format="json").json() == {"active": True}
    assert client.post("/api/v1/drivers/me/beacon", {"active": False}, format="json").json() == {"active": False}


def test_a_passenger_beacon_is_403_not_a_driver(client_for):
    response = client_for(make_passenger()).post("/api/v1/drivers/me/beacon", {"active": True}, format="json")

    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_driver"


def test_a_beacon_without_active_is_400(client_for):
    response = client_for(make_driver()).post("/api/v1/drivers/me/beacon", {}, format="json")

    assert response.status_code == 400 and "active" in response.json()["error"]["details"]


def test_a_location_is_202_accepted(client_for):
    response = client_for(make_passenger()).post("/api/v1/locations", {"lat": -6.2, "lng": 106.8}, format="json")

    assert response.status_code == 202 and response.json() == {"accepted": True}


def test_an_inaccurate_location_is_202_not_accepted_with_the_reason(client_for):
    response = client_for(make_driver()).post(
        "/api/v1/locations", {"lat": -6.2, "lng": 106.8, "accuracy_m": 51}, format="json"
    )

    assert response.status_code == 202 and response.json() == {"accepted": False, "reason": "inaccurate"}


def test_a_location_from_the_future_is_202_not_accepted_with_the_reason(client_for):
    in_an_hour = (timezone.now() + timedelta(hours=1)).isoformat()

    response = client_for(make_driver()).post(
        "/api/v1/locations", {"lat": -6.2, "lng": 106.8, "recorded_at": in_an_hour}, format="json"
    )

    assert response.status_code == 202 and response.json() == {"accepted": False, "reason": "future"}


def test_a_location_out_of_range_is_400_invalid_input_naming_the_field_as_a_ride_request_does(client_for):
    passenger = client_for(make_passenger())

    location = passenger.post("/api/v1/locations", {"lat": -95, "lng": 106.8}, format="json")
    ride_request = passenger.post(
        "/api/v1/rides/requests",
        {"pickup": {"lat": -95, "lng": 106.8}, "destination": {"lat": -6.2, "lng": 106.8}},
        format="json",
    )

    assert location.status_code == ride_request.status_code == 400
    error = location.json()["error"]
    assert error["code"] == ride_request.json()["error"]["code"] == "invalid_input"
    assert error == {
        "code": "invalid_input",
        "message": "lat: Ensure this value is greater than or equal to -90.",
        "details": {"lat": ["Ensure this value is greater than or equal to -90."]},
    }


def test_a_location_without_lng_is_400_naming_it(client_for):
    response = client_for(make_driver()).post("/api/v1/locations", {"lat": -6.2}, format="json")

    assert response.status_code == 400 and "lng" in response.json()["error"]["details"]


def test_locations_need_a_token(api_client):
    assert api_client.post("/api/v1/locations", {"lat": -6.2, "lng": 106.8}, format="json").status_code == 401


def test_nearby_lists_available_drivers_nearest_first(client_for):
    far = driver_online_at(make_driver(), north_of(MONAS, 900))
    near = driver_online_at(make_driver(), north_of(MONAS, 300))
    driver_online_at(make_driver(), north_of(MONAS, 1100))

    body = client_for(make_passenger()).get(f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}").json()

    assert body["count"] == 2
    assert [driver["id"] for driver in body["drivers"]] == [str(near.id), str(far.id)]
    assert set(body["drivers"][0]) == {"id", "lat", "lng", "distance_m"}
    assert round(body["drivers"][0]["distance_m"]) == 300


def test_nearby_honours_a_wider_radius(client_for):
    driver_online_at(make_driver(), north_of(MONAS, 4900))

    body = client_for(make_passenger()).get(f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}&radius_m=5000")

    assert body.json()["count"] == 1


def test_nearby_forgets_drivers_silent_for_60_seconds(client_for):
    driver_online_at(make_driver(), MONAS)
    client = client_for(make_passenger())

    with time_machine.travel(timezone.now() + timedelta(seconds=59)):
        assert client.get(f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}").json()["count"] == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert client.get(f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}").json()["count"] == 0


def test_nearby_caps_the_count(client_for, settings):
    settings.NEARBY_MAX_RESULTS = 3
    for i in range(5):
        driver_online_at(make_driver(), north_of(MONAS, 10 * i))

    body = client_for(make_passenger()).get(f"/api/v1/drivers/nearby?lat={MONAS[0]}&lng={MONAS[1]}").json()

    assert body["count"] == 3 and len(body["drivers"]) == 3


def test_nearby_with_a_bad_query_is_400_naming_the_field(client_for):
    client = client_for(make_passenger())
    for query, field in [
        ("lng=106.8", "lat"),
        ("lat=-6.2", "lng"),
        ("lat=abc&lng=106.8", "lat"),
        ("lat=-6.2&lng=106.8&radius_m=5001", "radius_m"),
        ("lat=-6.2&lng=106.8&radius_m=0", "radius_m"),
    ]:
        response = client.get(f"/api/v1/drivers/nearby?{query}")

        assert response.status_code == 400 and field in response.json()["error"]["details"], query


def test_nearby_with_out_of_range_coordinates_is_400_invalid_input_naming_the_field(client_for):
    response = client_for(make_passenger()).get("/api/v1/drivers/nearby?lat=91&lng=106.8")

    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    assert "lat" in response.json()["error"]["details"]
