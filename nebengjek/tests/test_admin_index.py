"""The admin index names every model the way an operator says it (plurals, acronyms), and the read-only pages
offer no buttons that would write past the services."""

import re
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

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
        "Users",
        "Driver profiles",
        "OTP challenges",
        "Sign-in sessions",
        "Driver beacons",
        "Ride requests",
        "Matches",
        "Rides",
        "Track points",
        "Ratings",
        "Chat messages",
        "Chat read audits",
        "Ride shares",
        "Ledger accounts",
        "Ledger transactions",
        "Ledger entries",
        "Top-ups",
        "Ride money",
        "Cancellation fees",
        "Products",
        "Fare policies",
        "Pushed events",
        "Event cursors",
        "Groups",
        "Blacklisted Tokens",
        "Outstanding Tokens",  # django.contrib.auth's and simplejwt's
    }


def one_of_everything():
    """A row in every table operators read: a ride in progress (request, match, track, events, beacon), a settled
    and rated ride (ledger), a pending top-up, an OTP challenge, a sign-in session."""
    from accounts.models import OtpChallenge, SignInSession
    from billing.models import TopUp
    from billing.services import ride_settle
    from locations.services import beacon_set
    from rides.ratings import rating_create
    from rides.tests.factories import make_in_progress_ride
    from rides.tests.ratings_helpers import make_completed_ride

    ride = make_in_progress_ride()
    beacon_set(user=ride.driver, active=True)
    completed = make_completed_ride()
    ride_settle(ride_id=completed.id)
    rating_create(ride_id=completed.id, rater=completed.passenger, stars=4)
    TopUp.objects.create(user=ride.passenger, idempotency_key="k-1", amount=50_000)
    OtpChallenge.objects.create(
        msisdn=ride.passenger.msisdn, code_hash="0" * 64, expires_at=timezone.now() + timedelta(minutes=5)
    )
    SignInSession.objects.create(sid=uuid.uuid4(), user=ride.passenger)


# Writes go through services and the operators' actions; users and driver profiles stay editable by staff.
READ_ONLY_MODELS = {
    "accounts.otpchallenge",
    "accounts.signinsession",
    "locations.driverpresence",
    "matching.riderequest",
    "matching.match",
    "rides.ride",
    "rides.trackpoint",
    "rides.rating",
    "billing.ledgeraccount",
    "billing.ledgertransaction",
    "billing.ledgerentry",
    "billing.topup",
    "billing.ridemoney",
    "nebengjek.event",
    "nebengjek.eventcursor",
}


def test_read_only_pages_offer_no_save_and_no_delete(operator_client):
    one_of_everything()
    pages = {}

    for label in sorted(READ_ONLY_MODELS):
        model = apps.get_model(label)
        obj = model.objects.order_by("pk").first()
        assert obj is not None, f"no {label} row"
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
        pages[label] = operator_client.get(url).content.decode()

    with_buttons = [label for label, html in pages.items() if '<input type="submit"' in html or "deletelink" in html]
    assert with_buttons == []
    raw_names = [label for label, html in pages.items() if re.search(r"\w+ object \(\w+\)", html)]
    assert raw_names == []
