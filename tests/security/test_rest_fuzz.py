"""REST fuzzing: schemathesis generates requests from /api/schema/ for every operation, signed in (issue 9, item 8).

Checks on every response: never a 5xx; every error is {"error": {"code", "message", "details"}} (../shared/API.md);
successful bodies conform to the schema. The example count per operation is bounded to fit CI.
"""

import os
import re

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, settings

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # `make reliability` runs more

schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())

# Operations a driver performs; the rest are exercised as a passenger.
DRIVER_PATHS = re.compile(r"^/api/v1/(matches/|drivers/|rides/\{ride_id\}/(start|end))")


@schemathesis.check
def error_in_contract_shape(ctx, response, case):
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and set(body) == {"error"}, f"not the error shape: {body!r}"
    assert isinstance(error.get("code"), str) and re.fullmatch(r"[a-z_]+", error["code"]), f"bad code: {error!r}"
    assert isinstance(error.get("message"), str) and error["message"], f"no message: {error!r}"
    assert isinstance(error.get("details"), dict), f"details is not an object: {error!r}"
    if response.status_code == 429:
        headers = {name.lower(): value for name, value in response.headers.items()}
        assert headers.get("retry-after"), "a 429 without Retry-After"
    return None


@pytest.fixture
def signed_in():
    """Bearer headers of one passenger and one driver (with a wallet balance, so wallet paths get further)."""
    from billing.services import topup_create

    passenger, driver = make_passenger(), make_driver()
    topup_create(user_id=passenger.pk, amount=500_000, idempotency_key="fuzz-seed")
    return {
        role: {"Authorization": f"Bearer {tokens_issue(user=user)['access']}"}
        for role, user in (("passenger", passenger), ("driver", driver))
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_5xx_and_every_error_in_the_contract_shape(case, signed_in):
    role = "driver" if DRIVER_PATHS.match(case.operation.path) else "passenger"
    checks = [
        schemathesis.checks.not_a_server_error,
        error_in_contract_shape,
        schemathesis.checks.response_schema_conformance,
    ]
    case.call_and_validate(headers=signed_in[role], checks=checks)
