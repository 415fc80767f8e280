"""Verification is required to go online: an unverified driver's beacon is refused (REST and socket, 403
driver_not_verified); DRIVER_AUTO_VERIFY (on outside production) verifies new drivers at registration."""

import os
import subprocess
import sys

from channels.db import database_sync_to_async

from accounts.models import DriverProfile
from accounts.tests.factories import make_driver, make_passenger

BEACON = "/api/v1/drivers/me/beacon"
REGISTER = "/api/v1/me/driver"


def register(client, plate="B 1234 XYZ"):
    response = client.post(REGISTER, {"vehicle_type": "motorcycle", "vehicle_plate": plate}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_unverified_driver_cannot_turn_the_beacon_on(client_for):
    client = client_for(make_driver(is_verified=False))

    response = client.post(BEACON, {"active": True}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "driver_not_verified"


def test_an_unverified_driver_may_turn_the_beacon_off(client_for):
    client = client_for(make_driver(is_verified=False))

    response = client.post(BEACON, {"active": False}, format="json")

    assert response.status_code == 200 and response.json() == {"active": False}


async def test_an_unverified_drivers_socket_beacon_is_refused_with_driver_not_verified(ws):
    socket = await ws(await database_sync_to_async(make_driver)(is_verified=False))

    await socket.send_json_to({"type": "beacon", "id": "b1", "active": True})

    answer = await socket.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["id"] == "b1"
    assert answer["error"]["code"] == "driver_not_verified"


def test_with_auto_verify_a_new_driver_is_verified_and_may_go_online(client_for, settings):
    settings.DRIVER_AUTO_VERIFY = True
    client = client_for(make_passenger())

    body = register(client)

    assert body["driver"]["is_verified"] is True
    assert DriverProfile.objects.get(user_id=client.user.pk).verified_at is not None
    assert client.post(BEACON, {"active": True}, format="json").status_code == 200


def test_without_auto_verify_a_new_driver_waits_for_an_operator(client_for, settings):
    settings.DRIVER_AUTO_VERIFY = False
    client = client_for(make_passenger())

    body = register(client)

    assert body["driver"]["is_verified"] is False
    assert client.post(BEACON, {"active": True}, format="json").status_code == 403


def test_an_operator_verifies_a_driver_in_the_admin_and_the_driver_may_go_online(client_for):
    from django.test import Client

    driver = make_driver(is_verified=False)
    operator = Client()
    operator.force_login(make_passenger(msisdn="+628110000039", is_staff=True, is_superuser=True))

    operator.post("/admin/accounts/driverprofile/", {"action": "mark_verified", "_selected_action": [str(driver.pk)]})

    assert client_for(driver).post(BEACON, {"active": True}, format="json").status_code == 200


def auto_verify_default(env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "NEBENGJEK_ENV", "SMS_BACKEND", "DRIVER_AUTO_VERIFY"}
    }
    result = subprocess.run(
        [sys.executable, "-c", "import nebengjek.settings as s; print(s.DRIVER_AUTO_VERIFY)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_auto_verify_is_on_in_development_and_off_in_production():
    production = {
        "NEBENGJEK_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "SMS_BACKEND": "accounts.tests.test_sms_gateway.FailingSmsGateway",
    }

    assert auto_verify_default({}) == "True"
    assert auto_verify_default(production) == "False"
