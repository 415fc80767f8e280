"""Logs are one JSON line per event, each carrying the request id, with the OTP line still easy to find."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from nebengjek.middleware import RedactingJsonFormatter, RequestIdLogFilter, bind_user_id

ROOT = Path(__file__).resolve().parents[2]

_REQUEST = """
import django
django.setup()
from django.test import Client
Client().get("/api/v1/me", HTTP_X_REQUEST_ID="req-abc")
"""


def test_a_4xx_is_logged_once_as_json_with_the_callers_request_id():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "nebengjek.settings_test", "PYTHONPATH": str(ROOT), "DEBUG": "true"}

    result = subprocess.run(
        [sys.executable, "-c", _REQUEST], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    lines = [line for line in result.stderr.splitlines() if "/api/v1/me" in line]
    assert len(lines) == 1, result.stderr
    record = json.loads(lines[0])
    assert record["logger"] == "django.request" and record["status_code"] == 401
    assert record["request_id"] == "req-abc"


def test_celery_logs_warnings_only_by_default(settings):
    assert logging.getLogger("celery.app.trace").getEffectiveLevel() == logging.WARNING
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


# --- trace and user ids on every line; no token, OTP code or full phone number -------------------------------

PASSENGER_MSISDN = "081298765432"
PASSENGER_E164 = "+6281298765432"


@pytest.fixture
def json_log():
    """The JSON log lines written while the test runs (root's json handler, every level from DEBUG)."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, RedactingJsonFormatter))
    buffer = io.StringIO()
    old_stream, old_level = handler.setStream(buffer), logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        logging.getLogger().setLevel(old_level)
        handler.setStream(old_stream)
        bind_user_id(None)


def _sign_in(api_client, sms_outbox):
    assert api_client.post("/api/v1/auth/otp/request", {"msisdn": PASSENGER_MSISDN}, format="json").status_code == 202
    code = sms_outbox.last_code(PASSENGER_E164)
    wrong = api_client.post("/api/v1/auth/otp/verify", {"msisdn": PASSENGER_MSISDN, "code": "000000"}, format="json")
    signed_in = api_client.post("/api/v1/auth/otp/verify", {"msisdn": PASSENGER_MSISDN, "code": code}, format="json")
    assert wrong.status_code == 400 and signed_in.status_code == 200
    return code, signed_in.json()


def test_a_sign_in_and_a_ride_log_no_token_no_otp_code_and_no_full_phone_number(
    json_log, spans, api_client, sms_outbox, client_for
):
    from matching.tests.helpers import ask_for_ride, driver_online, last_proposal

    bind_user_id("someone-else")  # a context still holding another user's id: a request's line names its own user
    code, tokens = _sign_in(api_client, sms_outbox)
    passenger = APIClient()
    passenger.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    driver = client_for(driver_online(50, user__msisdn="+6281311112222"))
    request = ask_for_ride(passenger)
    refused = passenger.post("/api/v1/rides/requests", {}, format="json")  # a 4xx, logged with who asked
    assert driver.post(f"/api/v1/matches/{last_proposal(driver.user)['id']}/accept").status_code == 200
    ride = passenger.post(f"/api/v1/rides/requests/{request['id']}/confirm").json()
    assert driver.post(f"/api/v1/rides/{ride['id']}/start").status_code == 200
    assert driver.post(f"/api/v1/rides/{ride['id']}/end", {}, format="json").status_code == 200
    APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {tokens['refresh']}")  # a token where none belongs
    lines = json_log()

    text = "\n".join(json.dumps(line) for line in lines)
    refused_line = next(
        line
        for line in lines
        if line.get("status_code") == refused.status_code and line["message"].endswith("/api/v1/rides/requests")
    )
    assert lines and all({"request_id", "trace_id", "span_id", "user_id"} <= set(line) for line in lines)
    assert refused_line["user_id"] == tokens["user"]["id"] and len(refused_line["trace_id"]) == 32
    for secret in (tokens["access"], tokens["refresh"], code, PASSENGER_E164, PASSENGER_MSISDN, "6281311112222"):
        assert secret not in text


def test_a_line_carrying_a_token_an_otp_code_or_a_phone_number_is_redacted():
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "signed in %s with Bearer abc.def.ghijkl", ("+6281234567890",), None
    )
    record.code, record.token = "123456", "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoxfQ.c2lnbmF0dXJl"
    RequestIdLogFilter().filter(record)

    line = json.loads(RedactingJsonFormatter("%(message)s %(trace_id)s").format(record))

    assert line["message"] == "signed in +62812*****890 with Bearer [token]"
    assert line["code"] == "[code]" and line["token"] == "[token]" and line["trace_id"] == ""
