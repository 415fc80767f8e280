"""The admin for operators: every model is there and opens, and state changes go through services."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

from accounts.tests.factories import make_driver, make_passenger
from locations.selectors import drivers_available_near
from locations.services import beacon_set, location_ingest

MONAS = (-6.175392, 106.827153)
OUR_APPS = ["accounts", "locations", "matching", "rides", "billing", "nebengjek"]


def operator():
    client = Client()
    client.force_login(make_passenger(msisdn="+628110000005", is_staff=True, is_superuser=True))
    return client


def changelist_url(model):
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


@pytest.mark.parametrize(
    "model", [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()], ids=lambda m: m._meta.label
)
def test_every_model_is_in_the_admin_and_its_list_opens(model):
    client = operator()

    assert admin.site.is_registered(model)
    assert client.get(changelist_url(model)).status_code == 200


def test_operator_switching_a_beacon_off_takes_the_driver_out_of_the_live_index():
    client = operator()
    driver = make_driver()
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    client.post("/admin/locations/driverpresence/", {"action": "beacon_off", "_selected_action": [str(driver.pk)]})

    assert drivers_available_near(lat=MONAS[0], lng=MONAS[1], radius_m=100) == []


def test_beacon_cannot_be_edited_as_a_raw_field():
    client = operator()
    driver = make_driver()
    beacon_set(user=driver, active=True)

    client.post(f"/admin/locations/driverpresence/{driver.pk}/change/", {"beacon_active": ""})

    assert driver.presence.__class__.objects.get(pk=driver.pk).beacon_active is True


def test_a_settled_ride_links_to_its_money_and_its_settlement_transaction():
    from billing.models import LedgerTransaction
    from rides.services import ride_end
    from rides.tests.factories import make_in_progress_ride

    client = operator()
    ride = make_in_progress_ride()
    ride_end(ride=ride, user=ride.driver)  # settled on commit (Celery eager)
    settlement = LedgerTransaction.objects.get(ride=ride, purpose="settlement")

    page = client.get(f"/admin/rides/ride/{ride.pk}/change/").content.decode()

    assert f"/admin/billing/ledgertransaction/{settlement.pk}/change/" in page
    assert f"/admin/billing/ridemoney/{ride.pk}/change/" in page
