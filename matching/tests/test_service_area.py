"""Requests only where NebengJek serves and only trips it can drive: the service area, the maximum trip length and
the minimum fare in the estimate (matching/service_area.py, rides/fare.py)."""

import pytest
from django.test import override_settings

from matching.models import RideRequest
from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    make_passenger,
    request_body,
)

JAKARTA = (-6.2, 106.8)
BANDUNG = (-6.9175, 107.6191)  # West Java, outside Greater Jakarta
SURABAYA_SQUARE = [[[-7.35, 112.6], [-7.35, 112.85], [-7.15, 112.85], [-7.15, 112.6]]]


def _refusal(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["details"]


def test_a_pickup_near_the_pole_is_refused_not_estimated(client_for):
    passenger = client_for(make_passenger())

    response = passenger.post("/api/v1/rides/requests", request_body(pickup=(89.9, 106.8)), format="json")

    assert _refusal(response) == (400, "outside_service_area", {"point": "pickup", "lat": 89.9, "lng": 106.8})
    assert not RideRequest.objects.exists()


def test_a_destination_outside_greater_jakarta_is_refused_naming_the_destination(client_for):
    response = client_for(make_passenger()).post(
        "/api/v1/rides/requests", request_body(destination=BANDUNG), format="json"
    )

    status, code, details = _refusal(response)
    assert (status, code, details["point"]) == (400, "outside_service_area", "destination")


@pytest.mark.parametrize(
    "place, point",
    [
        ("Bogor", (-6.5971, 106.8060)),
        ("Depok", (-6.4025, 106.7942)),
        ("Tangerang", (-6.1783, 106.6319)),
        ("Bekasi", (-6.2383, 106.9756)),
        ("Soekarno-Hatta airport", (-6.1256, 106.6558)),
        ("Cikarang", (-6.3075, 107.1722)),
    ],
)
def test_greater_jakarta_is_served(client_for, place, point):
    body = ask_for_ride(client_for(make_passenger()), pickup=point, destination=JAKARTA)

    assert body["status"] in ("searching", "no_driver"), place


def test_a_trip_longer_than_100_km_is_refused(client_for):
    # From the north-west of Tangerang to the south-east of Bekasi: both inside, 108 km apart
    response = client_for(make_passenger()).post(
        "/api/v1/rides/requests", request_body(pickup=(-6.0, 106.40), destination=(-6.44, 107.28)), format="json"
    )

    status, code, details = _refusal(response)
    assert (status, code, details["max_distance_m"]) == (400, "trip_too_long", 100_000)
    assert details["distance_m"] > 100_000


@override_settings(MAX_TRIP_DISTANCE_M=10_000)
def test_the_maximum_trip_length_is_a_setting(client_for):
    passenger = client_for(make_passenger())
    too_long = passenger.post("/api/v1/rides/requests", request_body(destination=(-6.29, 106.8)), format="json")

    ask_for_ride(passenger, destination=(-6.28, 106.8))  # 8.9 km

    assert _refusal(too_long) == (400, "trip_too_long", {"distance_m": 10008, "max_distance_m": 10_000})


@override_settings(SERVICE_AREA=SURABAYA_SQUARE)
def test_the_service_area_is_a_setting(client_for):
    passenger = client_for(make_passenger())
    in_jakarta = passenger.post("/api/v1/rides/requests", request_body(), format="json")

    body = ask_for_ride(passenger, pickup=(-7.25, 112.75), destination=(-7.26, 112.75))

    assert _refusal(in_jakarta)[:2] == (400, "outside_service_area") and body["status"] in ("searching", "no_driver")


def test_a_trip_of_no_distance_is_estimated_at_the_minimum_fare(client_for):
    body = ask_for_ride(client_for(make_passenger()), destination=JAKARTA)

    assert body["fare_estimate"] == {"distance_m": 0, "amount": 3000, "surge_multiplier": 1.0}


def test_a_trip_over_a_km_is_estimated_by_the_meters_formula(client_for):
    body = ask_for_ride(client_for(make_passenger()))

    assert body["fare_estimate"]["amount"] == 3336  # 1,111.95 m x 3,000 / km, above the minimum


def test_the_nearby_search_is_not_limited_to_the_service_area(client_for):
    driver_online(100)

    response = client_for(make_passenger()).get("/api/v1/drivers/nearby", {"lat": 1.3521, "lng": 103.8198})

    assert response.status_code == 200 and response.json()["count"] == 0
