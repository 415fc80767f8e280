"""Operators' accounts admin and createsuperuser: numbers are parsed by the same MSISDN rules as sign-in."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User

ADD_USER = "/admin/accounts/user/add/"


def operator_client():
    client = Client()
    client.force_login(User.objects.create_superuser("+628121111119", password="operator-pass-1"))
    return client


def add_user(client, msisdn):
    return client.post(
        ADD_USER,
        {
            "msisdn": msisdn,
            "full_name": "Budi",
            "usable_password": "false",
            "password1": "",
            "password2": "",
            "driver_profile-TOTAL_FORMS": "0",
            "driver_profile-INITIAL_FORMS": "0",
        },
    )


def test_admin_adds_a_user_under_the_normalized_number():
    response = add_user(operator_client(), "0812-1234-567")

    assert response.status_code == 302, response.content
    assert User.objects.filter(msisdn="+628121234567").exists()


@pytest.mark.parametrize("raw", ["0812١٢٣٤٥٦٧", "0812１２３４５６７", "+6581234567"])
def test_admin_refuses_a_number_that_is_not_valid(raw):
    client = operator_client()

    response = add_user(client, raw)

    assert response.status_code == 200
    assert "msisdn" in response.context["adminform"].form.errors
    assert User.objects.count() == 1


def test_createsuperuser_refuses_a_number_in_non_ascii_digits(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operator-pass-1")

    with pytest.raises(CommandError, match="Not a valid Telkomsel number"):
        call_command("createsuperuser", interactive=False, msisdn="0812١٢٣٤٥٦٧", verbosity=0)

    assert not User.objects.exists()


def test_createsuperuser_stores_the_normalized_number(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "operator-pass-1")

    call_command("createsuperuser", interactive=False, msisdn="0812-1234-567", verbosity=0)

    assert User.objects.get().msisdn == "+628121234567"
