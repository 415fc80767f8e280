"""Sign-in through REST: MSISDN rules, OTP life cycle, send caps, tokens (../shared/API.md, Accounts)."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import make_passenger

REQUEST = "/api/v1/auth/otp/request"
VERIFY = "/api/v1/auth/otp/verify"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def request_code(client, msisdn, **extra):
    return client.post(REQUEST, {"msisdn": msisdn}, format="json", **extra)


def sign_in(client, sms_outbox, msisdn="+628121234567"):
    request_code(client, msisdn)
    return client.post(VERIFY, {"msisdn": msisdn, "code": sms_outbox.last_code(msisdn)}, format="json")


@pytest.mark.parametrize("raw", ["08121234567", "+628121234567", "628121234567", "0812-1234-567", "0812 1234 567"])
def test_valid_msisdn_forms_normalize_to_e164(api_client, sms_outbox, raw):
    response = request_code(api_client, raw)

    assert response.status_code == 202
    assert response.json() == {"msisdn": "+628121234567", "expires_in": 300}


@pytest.mark.parametrize(
    "raw",
    [
        "081112345",
        "0811123456789",
        "08141234567",
        "08201234567",
        "08501234567",
        "08561234567",
        "+6581234567",
        "",
        "abc",
        "+62 812",
    ],
)
def test_invalid_msisdn_is_400_invalid_msisdn(api_client, sms_outbox, raw):
    response = request_code(api_client, raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_msisdn"
    assert sms_outbox.messages == []


def test_missing_msisdn_names_the_field(api_client):
    response = api_client.post(REQUEST, {}, format="json")

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid_input"
    assert "msisdn" in body["details"] and body["message"].startswith("msisdn")


def test_code_is_sent_by_sms_never_in_the_response(api_client, sms_outbox):
    response = request_code(api_client, "08121234567")

    ((to, text),) = sms_outbox.messages
    code = text.rsplit(" ", 1)[-1]
    assert to == "+628121234567" and text == f"Your NebengJek code is {code}"
    assert len(code) == 6 and code.isdigit()
    assert code not in response.content.decode()


def test_console_backend_prints_the_documented_line(api_client, caplog):
    with caplog.at_level(logging.INFO, logger="nebengjek.sms"):
        request_code(api_client, "08121234567")

    lines = [record.getMessage() for record in caplog.records if record.name == "nebengjek.sms"]
    assert len(lines) == 1
    assert lines[0].startswith("SMS to +628121234567: Your NebengJek code is ")


def test_first_verify_creates_a_passenger_and_returns_tokens(api_client, sms_outbox):
    response = sign_in(api_client, sms_outbox)

    assert response.status_code == 200
    body = response.json()
    assert body["is_new_user"] is True
    assert body["user"]["msisdn"] == "+628121234567" and body["user"]["role"] == "passenger"
    assert body["user"]["driver"] is None
    assert body["access"] and body["refresh"]


def test_second_sign_in_is_not_a_new_user(api_client, sms_outbox):
    sign_in(api_client, sms_outbox)

    response = sign_in(api_client, sms_outbox)

    assert response.json()["is_new_user"] is False


def test_code_is_single_use(api_client, sms_outbox):
    request_code(api_client, "08121234567")
    code = sms_outbox.last_code("+628121234567")
    api_client.post(VERIFY, {"msisdn": "08121234567", "code": code}, format="json")

    response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": code}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_otp"


def test_code_expires_after_five_minutes(api_client, sms_outbox):
    request_code(api_client, "08121234567")
    code = sms_outbox.last_code("+628121234567")

    with time_machine.travel(timezone.now() + timedelta(seconds=301)):
        response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": code}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "otp_expired"


def test_code_still_works_just_before_expiry(api_client, sms_outbox):
    request_code(api_client, "08121234567")
    code = sms_outbox.last_code("+628121234567")

    with time_machine.travel(timezone.now() + timedelta(seconds=295)):
        response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": code}, format="json")

    assert response.status_code == 200


def _wrong(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def test_five_wrong_codes_lock_the_otp_even_for_the_right_code(api_client, sms_outbox):
    request_code(api_client, "08121234567")
    code = sms_outbox.last_code("+628121234567")
    answers = [
        api_client.post(VERIFY, {"msisdn": "08121234567", "code": _wrong(code)}, format="json") for _ in range(5)
    ]

    response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": code}, format="json")

    assert [a.json()["error"]["code"] for a in answers] == ["invalid_otp"] * 4 + ["otp_locked"]
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "otp_locked"


def test_a_new_code_replaces_the_old_one(api_client, sms_outbox):
    request_code(api_client, "08121234567")
    old = sms_outbox.last_code("+628121234567")
    request_code(api_client, "08121234567")

    response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": old}, format="json")

    new = sms_outbox.last_code("+628121234567")
    assert response.status_code == 400 or old == new


def test_malformed_code_is_400_naming_code(api_client):
    response = api_client.post(VERIFY, {"msisdn": "08121234567", "code": "12ab"}, format="json")

    assert response.status_code == 400
    assert "code" in response.json()["error"]["details"]


def test_three_sends_per_number_per_window_then_429_with_retry_after(api_client, sms_outbox):
    answers = [request_code(api_client, "08121234567").status_code for _ in range(3)]

    response = request_code(api_client, "08121234567")

    assert answers == [202, 202, 202]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "otp_rate_limited"
    assert 0 < int(response["Retry-After"]) <= 900
    assert len(sms_outbox.messages) == 3


def test_send_window_reopens_after_fifteen_minutes(api_client, sms_outbox):
    for _ in range(3):
        request_code(api_client, "08121234567")
    from nebengjek.redis import get_redis

    get_redis().delete("otp:sends:win:+628121234567")  # what Redis' TTL does after 15 minutes

    assert request_code(api_client, "08121234567").status_code == 202


def test_ten_sends_per_day_cap(api_client, sms_outbox, settings):
    from nebengjek.redis import get_redis

    statuses = []
    for _ in range(11):
        get_redis().delete("otp:sends:win:+628121234567")  # each 15-minute window has passed
        statuses.append(request_code(api_client, "08121234567").status_code)

    assert statuses == [202] * 10 + [429]


def test_per_ip_cap(api_client, sms_outbox, settings):
    settings.OTP_SENDS_PER_IP_PER_HOUR = 4
    statuses = [request_code(api_client, f"0812123456{n}").status_code for n in range(5)]

    assert statuses == [202] * 4 + [429]


def test_known_and_unknown_numbers_get_the_same_answer(api_client, sms_outbox):
    make_passenger(msisdn="+628121111111")

    known = request_code(api_client, "08121111111")
    unknown = request_code(api_client, "08122222222")

    assert known.status_code == unknown.status_code == 202
    assert set(known.json()) == set(unknown.json())
    assert known.json()["expires_in"] == unknown.json()["expires_in"]


def test_refresh_rotates_and_the_old_refresh_token_is_refused(api_client, sms_outbox):
    tokens = sign_in(api_client, sms_outbox).json()

    rotated = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    reused = api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != tokens["refresh"] and rotated.json()["access"]
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"


def test_logout_blacklists_the_refresh_token(api_client, sms_outbox):
    tokens = sign_in(api_client, sms_outbox).json()

    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_logout_with_a_garbage_token_is_401(api_client):
    response = api_client.post(LOGOUT, {"refresh": "nope"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_access_token_expires_after_five_minutes(api_client, sms_outbox):
    access = sign_in(api_client, sms_outbox).json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")

    with time_machine.travel(timezone.now() + timedelta(minutes=5, seconds=5)):
        response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_suspended_user_cannot_sign_in(api_client, sms_outbox):
    make_passenger(msisdn="+628121234567", is_active=False)

    response = sign_in(api_client, sms_outbox)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "user_suspended"


# The same number in Arabic-Indic, Devanagari and fullwidth digits: Python's `\d` matched them all.
NON_ASCII_DIGIT_NUMBERS = ["0812١٢٣٤٥٦٧", "٠٨١٢١٢٣٤٥٦٧", "+62812४५६७८९०", "0812１２３４５６７"]


@pytest.mark.parametrize("raw", NON_ASCII_DIGIT_NUMBERS)
def test_a_number_in_non_ascii_digits_is_400_invalid_msisdn_at_otp_request(api_client, sms_outbox, raw):
    response = request_code(api_client, raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_msisdn"
    assert sms_outbox.messages == []


def test_a_number_in_non_ascii_digits_is_400_invalid_msisdn_at_verify_and_makes_no_second_user(api_client, sms_outbox):
    from accounts.models import User

    request_code(api_client, "08121234567")
    code = sms_outbox.last_code("+628121234567")

    response = api_client.post(VERIFY, {"msisdn": "0812١٢٣٤٥٦٧", "code": code}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_msisdn"
    assert not User.objects.exists()
