"""Operators sign in to the admin with their phone number written the way they write it."""

import pytest

from accounts.models import User


@pytest.fixture
def operator():
    return User.objects.create_superuser(msisdn="+628110000042", password="a-long-operator-password")


@pytest.mark.parametrize("typed", ["08110000042", "628110000042", "+62 811-0000-042", "+628110000042"])
def test_admin_sign_in_accepts_every_format_the_api_accepts(client, operator, typed):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": typed, "password": "a-long-operator-password", "next": "/admin/"}
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_sign_in_refuses_a_wrong_password_in_local_format(client, operator):
    response = client.post("/admin/login/", {"username": "08110000042", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
