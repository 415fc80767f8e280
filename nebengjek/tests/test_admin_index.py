"""The admin index names every model the way an operator says it (plurals, acronyms), and the read-only pages
offer no buttons that would write past the services."""
import pytest

from accounts.models import User


@pytest.fixture
def operator_client(client):
    client.force_login(User.objects.create_superuser("+628127777777", password="operator-pass-1"))
    return client


def test_the_admin_index_names_every_model_in_plain_english(operator_client):
    response = operator_client.get("/admin/")

    names = {model["name"] for app in response.context["app_list"] for model in app["models"]}
    assert all(f">{name}</a>" in response.content.decode() for name in names)
    assert names == {
        "Users", "Driver profiles", "OTP challenges", "Sign-in sessions",
        "Driver beacons",
        "Ride requests", "Matches",
        "Rides", "Track points", "Ratings",
        "Ledger accounts", "Ledger transactions", "Ledger entries", "Top-ups", "Ride money",
        "Pushed events", "Event cursors",
        "Groups", "Blacklisted Tokens", "Outstanding Tokens",  # django.contrib.auth's and simplejwt's
    }

