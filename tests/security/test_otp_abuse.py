"""OTP abuse from many parallel clients: brute force of one code, send floods, enumeration (issue 9, item 1).

Real threads, each with its own HTTP client and database connection, released together by a barrier; the caps
must hold because they are counted atomically (Redis MULTI for sends, a row lock for wrong tries).
"""

from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import OtpChallenge
from accounts.tests.factories import make_passenger
from tests.reliability.parallel import postgres_only, raised, run_parallel, tally

REQUEST = "/api/v1/auth/otp/request"
VERIFY = "/api/v1/auth/otp/verify"
PARALLEL = 50

pytestmark = postgres_only


def post(path, body, ip="10.0.0.1"):
    return APIClient().post(path, body, format="json", REMOTE_ADDR=ip)


def wrong_code(right, i):
    return f"{(int(right) + 1 + i) % 10**6:06d}"


def test_fifty_parallel_wrong_codes_lock_the_code_after_exactly_five(sms_outbox):
    # given one live code
    msisdn = "+628121110001"
    post(REQUEST, {"msisdn": msisdn})
    right = sms_outbox.last_code(msisdn)

    # when 50 clients from 50 addresses each try a different wrong code at once
    responses = run_parallel(
        PARALLEL, lambda i: post(VERIFY, {"msisdn": msisdn, "code": wrong_code(right, i)}, ip=f"10.1.0.{i + 1}")
    )

    # then exactly 4 tries were "invalid" and every other one found the code locked
    assert raised(responses) == []
    assert tally(responses) == {
        (400, "invalid_otp"): settings.OTP_MAX_WRONG_ATTEMPTS - 1,
        (400, "otp_locked"): PARALLEL - settings.OTP_MAX_WRONG_ATTEMPTS + 1,
    }
    assert OtpChallenge.objects.get(msisdn=msisdn).wrong_attempts == settings.OTP_MAX_WRONG_ATTEMPTS


def test_the_right_code_is_refused_once_the_code_is_locked(sms_outbox):
    # given a code locked by a parallel brute force
    msisdn = "+628121110002"
    post(REQUEST, {"msisdn": msisdn})
    right = sms_outbox.last_code(msisdn)
    run_parallel(
        PARALLEL, lambda i: post(VERIFY, {"msisdn": msisdn, "code": wrong_code(right, i)}, ip=f"10.2.0.{i + 1}")
    )

    # when the right code is sent afterwards
    response = post(VERIFY, {"msisdn": msisdn, "code": right})

    # then it is locked too, and no tokens leave
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "otp_locked"
    assert "access" not in response.json()


def test_the_right_code_among_parallel_tries_signs_in_at_most_once(sms_outbox):
    # given one live code, and 50 clients all sending the right one at once (a replayed intercepted code)
    msisdn = "+628121110003"
    post(REQUEST, {"msisdn": msisdn})
    right = sms_outbox.last_code(msisdn)

    # when
    responses = run_parallel(PARALLEL, lambda i: post(VERIFY, {"msisdn": msisdn, "code": right}, ip=f"10.3.0.{i + 1}"))

    # then the single-use code signs in exactly one client
    assert raised(responses) == []
    counts = tally(responses)
    assert counts[(200, None)] == 1
    assert sum(counts.values()) == PARALLEL and all(status == 400 for status, _ in counts if status != 200)


def test_fifty_parallel_sends_to_one_number_send_at_most_the_window_cap(sms_outbox):
    # when 50 clients from different addresses ask for a code for the same number at once
    msisdn = "+628121110004"
    responses = run_parallel(PARALLEL, lambda i: post(REQUEST, {"msisdn": msisdn}, ip=f"10.4.0.{i + 1}"))

    # then exactly the window's cap were accepted, every other one throttled with Retry-After
    assert raised(responses) == []
    cap = settings.OTP_SENDS_PER_WINDOW
    assert tally(responses) == {(202, None): cap, (429, "otp_rate_limited"): PARALLEL - cap}
    assert all(int(r["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    assert len([to for to, _ in sms_outbox.messages if to == msisdn]) == cap


def test_fifty_parallel_sends_from_one_address_send_at_most_the_address_cap(sms_outbox):
    # when one address asks for codes for 50 different numbers at once
    responses = run_parallel(PARALLEL, lambda i: post(REQUEST, {"msisdn": f"+6281211120{i:02d}"}, ip="10.5.0.1"))

    # then exactly the per-address cap were sent
    assert raised(responses) == []
    cap = settings.OTP_SENDS_PER_IP_PER_HOUR
    assert tally(responses) == {(202, None): cap, (429, "otp_rate_limited"): PARALLEL - cap}
    assert len(sms_outbox.messages) == cap


def test_the_day_cap_holds_across_windows_for_one_number(sms_outbox):
    from nebengjek import redis_keys
    from nebengjek.redis import get_redis

    msisdn = "+628121110005"
    per_window = settings.OTP_SENDS_PER_WINDOW
    sent = 0
    # when a full window's worth of parallel requests is made in more windows than the day allows
    for window in range(settings.OTP_SENDS_PER_DAY // per_window + 2):
        get_redis().delete(redis_keys.key(redis_keys.OTP_SENDS_WINDOW, msisdn=msisdn))  # as 15 minutes later
        responses = run_parallel(
            per_window, lambda i, window=window: post(REQUEST, {"msisdn": msisdn}, ip=f"10.6.{window}.{i + 1}")
        )
        sent += sum(1 for r in responses if r.status_code == 202)

    # then no more than the day cap were ever sent
    assert sent == settings.OTP_SENDS_PER_DAY
    assert len(sms_outbox.messages) == settings.OTP_SENDS_PER_DAY


def _shape(response):
    body = response.json()
    return response.status_code, sorted(body), body.get("expires_in"), body.get("error", {}).get("code")


def test_known_and_unknown_numbers_get_the_same_answers(sms_outbox):
    # given one registered user and one number nobody uses
    known = make_passenger(msisdn="+628121110006").msisdn
    unknown = "+628121110007"

    # when both ask for a code, then try a wrong one
    asked = [post(REQUEST, {"msisdn": msisdn}, ip=f"10.7.0.{n}") for n, msisdn in enumerate((known, unknown))]
    tried = [
        post(VERIFY, {"msisdn": msisdn, "code": wrong_code(sms_outbox.last_code(msisdn), 0)}, ip=f"10.7.1.{n}")
        for n, msisdn in enumerate((known, unknown))
    ]

    # then nothing tells them apart
    assert _shape(asked[0]) == _shape(asked[1]) == (202, ["expires_in", "msisdn"], 300, None)
    assert [r.json() for r in tried][0] == [r.json() for r in tried][1]


def test_a_number_with_no_code_answers_like_a_wrong_code(sms_outbox):
    # given a known user who never asked for a code, and one who did
    silent = make_passenger(msisdn="+628121110008").msisdn
    asked = make_passenger(msisdn="+628121110009").msisdn
    post(REQUEST, {"msisdn": asked})

    # when both try a code
    a = post(VERIFY, {"msisdn": silent, "code": "123456"})
    b = post(VERIFY, {"msisdn": asked, "code": wrong_code(sms_outbox.last_code(asked), 0)})

    # then both are a plain invalid_otp
    assert (
        (a.status_code, a.json()["error"]["code"]) == (b.status_code, b.json()["error"]["code"]) == (400, "invalid_otp")
    )
