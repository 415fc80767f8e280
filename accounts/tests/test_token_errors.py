"""A refused token says why in words a person acts on: expired (refresh it / sign in) vs not valid vs already used,
never simplejwt's "detail: Given token not valid for any token type" (issue 27, item 4)."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from accounts.services import tokens_issue
from accounts.tests.factories import make_passenger

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def bearer(api_client, access):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api_client


def test_an_expired_access_token_is_401_saying_it_expired_and_how_to_get_a_new_one(api_client):
    access = tokens_issue(user=make_passenger())["access"]

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        response = bearer(api_client, access).get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == {
        "code": "token_not_valid",
        "message": "The access token has expired; get a new one with POST /api/v1/auth/token/refresh.",
        "details": {"token": "access", "reason": "expired"},
    }


def test_a_garbage_access_token_is_401_saying_it_is_not_valid_without_a_detail_prefix(api_client):
    response = bearer(api_client, "not-a-jwt").get(ME)

    error = response.json()["error"]
    assert response.status_code == 401 and error["code"] == "token_not_valid"
    assert error["details"] == {"token": "access", "reason": "invalid"}
    assert error["message"].startswith("The access token is not valid")
    assert "detail" not in error["message"] and "Given token" not in error["message"]


def test_a_refresh_token_used_as_an_access_token_is_not_valid(api_client):
    refresh = tokens_issue(user=make_passenger())["refresh"]

    response = bearer(api_client, refresh).get(ME)

    assert response.json()["error"]["details"] == {"token": "access", "reason": "invalid"}


def test_an_expired_refresh_token_says_sign_in_again(api_client):
    refresh = tokens_issue(user=make_passenger())["refresh"]

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "token_not_valid",
        "message": "The refresh token has expired; sign in again.",
        "details": {"token": "refresh", "reason": "expired"},
    }


def test_a_refresh_token_used_twice_says_it_was_already_used(api_client):
    refresh = tokens_issue(user=make_passenger())["refresh"]
    assert api_client.post(REFRESH, {"refresh": refresh}, format="json").status_code == 200

    response = api_client.post(REFRESH, {"refresh": refresh}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "token_not_valid",
        "message": "This refresh token was already used or signed out; sign in again.",
        "details": {"token": "refresh", "reason": "revoked"},
    }


def test_logout_with_a_garbage_refresh_token_says_it_is_not_valid(api_client):
    response = api_client.post(LOGOUT, {"refresh": "garbage"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["details"] == {"token": "refresh", "reason": "invalid"}
    assert response.json()["error"]["message"].startswith("The refresh token is not valid")
