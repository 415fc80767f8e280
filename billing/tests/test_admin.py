import pytest
from django.test import Client

from accounts.models import User
from billing.models import LedgerTransaction
from billing.services import ride_settle
from billing.tests.factories import make_completed_ride


@pytest.fixture
def operator_client():
    client = Client()
    client.force_login(User.objects.create_superuser("+628119999999", password="not-used"))
    return client


def test_operators_refund_a_ride_from_the_admin(operator_client):
    ride = make_completed_ride(payment_method="wallet")
    ride_settle(ride_id=ride.id)

    response = operator_client.post(
        "/admin/billing/ridemoney/", {"action": "refund_rides", "_selected_action": [str(ride.id)]}
    )

    assert response.status_code == 302
    refund = LedgerTransaction.objects.get(ride=ride, purpose="refund")
    assert "refund by +628119999999" in refund.memo


def test_the_ledger_pages_link_a_transaction_to_its_ride(operator_client):
    ride = make_completed_ride(payment_method="wallet")
    txn = ride_settle(ride_id=ride.id)

    page = operator_client.get(f"/admin/billing/ledgertransaction/{txn.pk}/change/").content.decode()
    ride_page = operator_client.get(f"/admin/billing/ridemoney/{ride.pk}/change/").content.decode()

    assert f"/admin/billing/ridemoney/{ride.pk}/change/" in page
    assert f"/admin/billing/ledgertransaction/{txn.pk}/change/" in ride_page


@pytest.mark.parametrize("model", ["ledgeraccount", "ledgertransaction", "ledgerentry", "topup", "ridemoney"])
def test_ledger_admin_lists_load_and_offer_no_add(operator_client, model):
    ride_settle(ride_id=make_completed_ride(payment_method="wallet").id)

    assert operator_client.get(f"/admin/billing/{model}/").status_code == 200
    assert operator_client.get(f"/admin/billing/{model}/add/").status_code == 403


def test_a_ledger_entry_cannot_be_deleted_from_the_admin(operator_client):
    txn = ride_settle(ride_id=make_completed_ride(payment_method="wallet").id)
    entry = txn.entries.first()

    response = operator_client.get(f"/admin/billing/ledgerentry/{entry.pk}/delete/")

    assert response.status_code == 403
    assert txn.entries.count() == 3


def test_ledger_pages_write_money_with_separators_and_idr(operator_client):
    ride = make_completed_ride(payment_method="wallet", metered_fare=33359, price_pct=75, distance_m=11119.492664455873)
    txn = ride_settle(ride_id=ride.id)
    entry = txn.entries.get(kind="ride_payment")

    ride_page = operator_client.get(f"/admin/billing/ridemoney/{ride.pk}/change/").content.decode()
    txn_page = operator_client.get(f"/admin/billing/ledgertransaction/{txn.pk}/change/").content.decode()
    entry_page = operator_client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/").content.decode()
    entries = operator_client.get("/admin/billing/ledgerentry/").content.decode()

    assert "33,359 IDR" in ride_page and "25,019 IDR" in ride_page and "11.12 km" in ride_page
    assert "11119.49" not in ride_page
    assert "-25,019 IDR" in txn_page and "+23,769 IDR" in txn_page and "+1,250 IDR" in txn_page
    assert "-25,019 IDR" in entry_page and "-25,019 IDR" in entries
    assert "LedgerEntry object" not in txn_page
