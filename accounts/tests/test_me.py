import pytest

from accounts.tests.factories import make_driver, make_passenger


def test_me_needs_a_token(api_client):
    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_shows_the_user(client_for):
    user = make_passenger(msisdn="+628121234567", full_name="Sari")

    body = client_for(user).get("/api/v1/me").json()

    assert body["id"] == str(user.id)
    assert body["msisdn"] == "+628121234567" and body["full_name"] == "Sari"
    assert body["role"] == "passenger" and body["driver"] is None


def test_patch_me_updates_the_name(client_for):
    client = client_for(make_passenger())

    response = client.patch("/api/v1/me", {"full_name": "  Budi Santoso "}, format="json")

    assert response.status_code == 200
    assert response.json()["full_name"] == "Budi Santoso"


def test_patch_me_is_partial_a_field_left_out_stays(client_for):
    user = make_passenger(full_name="Sari")

    response = client_for(user).patch("/api/v1/me", {}, format="json")

    assert response.status_code == 200
    assert response.json()["full_name"] == "Sari"


def test_patch_me_with_an_empty_name_is_400(client_for):
    response = client_for(make_passenger()).patch("/api/v1/me", {"full_name": ""}, format="json")

    assert response.status_code == 400
    assert "full_name" in response.json()["error"]["details"]


def test_register_as_driver_makes_the_user_a_driver(client_for):
    client = client_for(make_passenger())

    response = client.post(
        "/api/v1/me/driver", {"vehicle_type": "motorcycle", "vehicle_plate": "b  1234 xyz"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "driver"
    # verified at once: DRIVER_AUTO_VERIFY is on outside production (accounts/tests/test_driver_verification.py)
    assert body["driver"] == {"vehicle_type": "motorcycle", "vehicle_plate": "B 1234 XYZ", "is_verified": True}


def test_registering_twice_is_409(client_for):
    client = client_for(make_driver())

    response = client.post("/api/v1/me/driver", {"vehicle_type": "car", "vehicle_plate": "B 99 ZZ"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_driver"


def test_a_plate_belongs_to_one_driver(client_for):
    make_driver(vehicle_plate="B 1234 XYZ")

    response = client_for(make_passenger()).post(
        "/api/v1/me/driver", {"vehicle_type": "car", "vehicle_plate": "B 1234 XYZ"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_plate_taken"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"vehicle_type": "bus", "vehicle_plate": "B 1 A"}, "vehicle_type"),
        ({"vehicle_type": "car"}, "vehicle_plate"),
        ({"vehicle_type": "car", "vehicle_plate": "12345"}, "vehicle_plate"),
    ],
)
def test_bad_driver_registration_is_400_naming_the_field(client_for, payload, field):
    response = client_for(make_passenger()).post("/api/v1/me/driver", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
