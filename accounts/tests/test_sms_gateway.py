"""The SMS gateway as the outside world: production refuses the console backend at start-up; a gateway that fails
answers 503 and gives back the send it counted."""

import os
import subprocess
import sys

import pytest

from conftest import SmsOutbox

REQUEST = "/api/v1/auth/otp/request"
VERIFY = "/api/v1/auth/otp/verify"
MSISDN = "+628121234567"
PRODUCTION = {"NEBENGJEK_ENV": "production", "DEBUG": "false", "SECRET_KEY": "x" * 50}


class FailingSmsGateway:
    """A gateway that is down: every send raises."""

    def send(self, *, msisdn, text):
        raise ConnectionError("SMS gateway unreachable")


def settings_import(env):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "NEBENGJEK_ENV", "SMS_BACKEND"}}
    return subprocess.run(
        [sys.executable, "-c", "import nebengjek.settings"], env={**clean, **env}, capture_output=True, text=True
    )


@pytest.mark.parametrize("sms_backend", [None, "accounts.sms.ConsoleSmsBackend"])
def test_production_refuses_to_start_with_the_console_sms_backend(sms_backend):
    env = PRODUCTION if sms_backend is None else {**PRODUCTION, "SMS_BACKEND": sms_backend}

    result = settings_import(env)

    assert result.returncode != 0
    assert "Refusing to start" in result.stderr and "SMS_BACKEND" in result.stderr


def test_production_starts_with_an_sms_gateway_configured():
    result = settings_import({**PRODUCTION, "SMS_BACKEND": "accounts.tests.test_sms_gateway.FailingSmsGateway"})

    assert result.returncode == 0, result.stderr


def request_code(client):
    return client.post(REQUEST, {"msisdn": "08121234567"}, format="json")


def test_a_failing_sms_gateway_answers_503_service_unavailable_with_retry_after(api_client, settings):
    settings.SMS_BACKEND = "accounts.tests.test_sms_gateway.FailingSmsGateway"

    response = request_code(api_client)

    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "service_unavailable"
    assert int(response["Retry-After"]) > 0


def test_failed_sends_use_up_none_of_the_number_day_and_ip_caps(api_client, settings):
    settings.OTP_SENDS_PER_WINDOW = settings.OTP_SENDS_PER_DAY = settings.OTP_SENDS_PER_IP_PER_HOUR = 3
    settings.SMS_BACKEND = "accounts.tests.test_sms_gateway.FailingSmsGateway"
    failed = [request_code(api_client).status_code for _ in range(3)]
    settings.SMS_BACKEND = "conftest.SmsOutbox"
    SmsOutbox.messages = []

    sent = [request_code(api_client).status_code for _ in range(3)]

    assert failed == [503] * 3
    assert sent == [202] * 3 and len(SmsOutbox.messages) == 3
    assert request_code(api_client).status_code == 429  # the caps still hold, counting delivered sends


def test_the_code_of_a_send_that_worked_after_failures_signs_in(api_client, settings):
    settings.SMS_BACKEND = "accounts.tests.test_sms_gateway.FailingSmsGateway"
    request_code(api_client)
    settings.SMS_BACKEND = "conftest.SmsOutbox"
    SmsOutbox.messages = []
    request_code(api_client)

    response = api_client.post(VERIFY, {"msisdn": MSISDN, "code": SmsOutbox().last_code(MSISDN)}, format="json")

    assert response.status_code == 200
