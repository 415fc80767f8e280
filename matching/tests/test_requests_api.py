"""Making a ride request and reading it back (../shared/API.md "Matching")."""

from matching.tests.helpers import (
    ask_for_ride,
    driver_online,
    last_proposal,
    make_passenger,
    request_body,
)


def test_a_request_starts_searching_with_the_fare_estimate_fixed(client_for):
    driver_online(300)
    client = client_for(make_passenger())

    response = client.post("/api/v1/rides/requests", request_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "searching"
    assert body["fare_estimate"] == {"distance_m": 1112, "amount": 3336, "surge_multiplier": 1.0}
    assert body["payment_method"] == "cash"


def test_the_surge_inputs_are_kept_with_the_request(client_for):
    driver_online(300)
    driver_online(600)

    body = ask_for_ride(client_for(make_passenger()))

    assert body["surge"]["supply"] == 2 and body["surge"]["demand"] == 1
    assert len(body["surge"]["cell"]) == 15  # an H3 cell index


def test_a_second_open_request_is_409_active_request_exists(client_for):
    client = client_for(make_passenger())
    driver_online(300)
    ask_for_ride(client)

    response = client.post("/api/v1/rides/requests", request_body(), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "active_request_exists"


def test_a_passenger_with_a_confirmed_ride_cannot_request_another(client_for):
    passenger = client_for(make_passenger())
    driver = driver_online(300)
    request = ask_for_ride(passenger)
    client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept")
    assert passenger.post(f"/api/v1/rides/requests/{request['id']}/confirm").status_code == 201

    response = passenger.post("/api/v1/rides/requests", request_body(), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "active_request_exists"


def test_after_cancelling_the_passenger_may_request_again(client_for):
    client = client_for(make_passenger())
    first = ask_for_ride(client)
    client.post(f"/api/v1/rides/requests/{first['id']}/cancel")

    response = client.post("/api/v1/rides/requests", request_body(), format="json")

    assert response.status_code == 201


def test_a_missing_destination_is_400_naming_the_field(client_for):
    body = request_body()
    del body["destination"]

    response = client_for(make_passenger()).post("/api/v1/rides/requests", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "destination" in response.json()["error"]["details"]


def test_a_latitude_out_of_range_is_400(client_for):
    response = client_for(make_passenger()).post(
        "/api/v1/rides/requests", request_body(pickup=(91, 106.8)), format="json"
    )

    assert response.status_code == 400
    assert "pickup" in response.json()["error"]["details"]


def test_an_unknown_payment_method_is_400(client_for):
    response = client_for(make_passenger()).post(
        "/api/v1/rides/requests", request_body(payment_method="gold"), format="json"
    )

    assert response.status_code == 400
    assert "payment_method" in response.json()["error"]["details"]


def test_requests_need_a_token(api_client):
    response = api_client.post("/api/v1/rides/requests", request_body(), format="json")

    assert response.status_code == 401


def test_the_passenger_reads_the_request_back(client_for):
    client = client_for(make_passenger())
    driver_online(300)
    created = ask_for_ride(client)

    response = client.get(f"/api/v1/rides/requests/{created['id']}")

    assert response.status_code == 200
    assert response.json()["id"] == created["id"]
    assert response.json()["status"] == "searching"
    assert response.json()["match"] is None


def test_someone_elses_request_is_404(client_for):
    created = ask_for_ride(client_for(make_passenger()))

    response = client_for(make_passenger()).get(f"/api/v1/rides/requests/{created['id']}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "request_not_found"


def test_the_request_shows_the_accepted_match_with_the_driver(client_for):
    passenger = client_for(make_passenger())
    driver = driver_online(300, vehicle_plate="B 7 NJK")
    created = ask_for_ride(passenger)
    client_for(driver).post(f"/api/v1/matches/{last_proposal(driver)['id']}/accept")

    body = passenger.get(f"/api/v1/rides/requests/{created['id']}").json()

    assert body["status"] == "driver_found"
    assert body["match"]["status"] == "accepted"
    assert body["match"]["driver"]["id"] == str(driver.id)
    assert body["match"]["driver"]["vehicle_plate"] == "B 7 NJK"
    assert body["confirm_expires_at"] is not None


def test_paying_by_wallet_needs_a_balance_covering_the_estimate(client_for):
    driver_online(300)
    client = client_for(make_passenger())

    response = client.post("/api/v1/rides/requests", request_body(payment_method="wallet"), format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_balance"
    assert response.json()["error"]["details"] == {"balance": 0, "held": 0, "available": 0, "fare_estimate": 3336}


def test_with_enough_in_the_wallet_a_wallet_request_is_made(client_for):
    driver_online(300)
    client = client_for(make_passenger())
    topup = client.post("/api/v1/wallet/topups", {"amount": 10_000}, format="json", HTTP_IDEMPOTENCY_KEY="t-1")
    assert topup.status_code == 201, topup.json()

    body = ask_for_ride(client, payment_method="wallet")

    assert body["payment_method"] == "wallet" and body["status"] == "searching"
