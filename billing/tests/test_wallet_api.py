import pytest

from accounts.tests.factories import make_driver, make_passenger
from billing.models import LedgerTransaction, TopUp
from billing.selectors import ledger_findings
from billing.services import ride_refund, ride_settle
from billing.tests.factories import make_completed_ride


def _topup(client, amount, key="key-1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/wallet/topups", {"amount": amount}, format="json", **headers)


@pytest.mark.parametrize(
    "method, path",
    [("get", "/api/v1/wallet"), ("get", "/api/v1/wallet/transactions"), ("post", "/api/v1/wallet/topups")],
)
def test_wallet_endpoints_need_a_token(api_client, method, path):
    response = getattr(api_client, method)(path)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_new_user_has_an_empty_wallet(client_for):
    response = client_for(make_passenger()).get("/api/v1/wallet")

    assert response.status_code == 200
    assert response.json() == {"balance": 0, "currency": "IDR"}


def test_a_topup_credits_the_wallet(client_for):
    client = client_for(make_passenger())

    response = _topup(client, 50_000)

    assert response.status_code == 201
    body = response.json()
    assert body["amount"] == 50_000 and body["status"] == "succeeded" and body["currency"] == "IDR"
    assert client.get("/api/v1/wallet").json()["balance"] == 50_000


def test_the_same_idempotency_key_twice_gives_the_same_topup_and_one_credit(client_for):
    client = client_for(make_passenger())

    first = _topup(client, 50_000, key="abc")
    second = _topup(client, 50_000, key="abc")

    assert second.status_code == first.status_code == 201
    assert second.json() == first.json()
    assert client.get("/api/v1/wallet").json()["balance"] == 50_000
    assert LedgerTransaction.objects.filter(purpose="topup").count() == 1


def test_the_same_key_with_a_different_amount_is_422(client_for):
    client = client_for(make_passenger())
    _topup(client, 50_000, key="abc")

    response = _topup(client, 60_000, key="abc")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert client.get("/api/v1/wallet").json()["balance"] == 50_000


def test_idempotency_keys_belong_to_each_user(client_for):
    alice, bob = client_for(make_passenger()), client_for(make_passenger())

    _topup(alice, 20_000, key="same")
    _topup(bob, 30_000, key="same")

    assert alice.get("/api/v1/wallet").json()["balance"] == 20_000
    assert bob.get("/api/v1/wallet").json()["balance"] == 30_000


def test_a_topup_without_an_idempotency_key_is_400(client_for):
    response = _topup(client_for(make_passenger()), 50_000, key=None)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


@pytest.mark.parametrize("amount", [0, -10_000, 9_999, 2_000_001, 15_000.5, "15000", True, None])
def test_a_topup_amount_must_be_a_whole_rupiah_amount_within_limits(client_for, amount):
    client = client_for(make_passenger())

    response = _topup(client, amount)

    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_amount", "invalid_input"}
    assert not TopUp.objects.exists()


def test_a_topup_without_an_amount_names_the_field(client_for):
    response = client_for(make_passenger()).post("/api/v1/wallet/topups", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 400
    assert "amount" in response.json()["error"]["details"]


def test_a_declined_payment_credits_nothing_and_the_same_key_repeats_the_answer(client_for, settings):
    settings.PAYMENT_GATEWAY = "billing.tests.gateways.DecliningGateway"
    client = client_for(make_passenger())

    first = _topup(client, 50_000)
    second = _topup(client, 50_000)

    assert first.status_code == second.status_code == 402
    assert first.json()["error"]["code"] == "payment_declined"
    assert client.get("/api/v1/wallet").json()["balance"] == 0
    assert TopUp.objects.get().status == "failed"


def test_a_topup_left_pending_by_a_gateway_outage_completes_on_retry_with_the_same_key(client_for, settings):
    settings.PAYMENT_GATEWAY = "billing.tests.gateways.DownGateway"
    client = client_for(make_passenger())
    outage = _topup(client, 50_000)
    settings.PAYMENT_GATEWAY = "billing.gateways.TestGateway"

    retry = _topup(client, 50_000)

    assert outage.status_code == 503 and outage.json()["error"]["code"] == "payment_gateway_unavailable"
    assert retry.status_code == 201 and retry.json()["id"] == outage.json()["error"]["details"]["topup_id"]
    assert client.get("/api/v1/wallet").json()["balance"] == 50_000


def test_wallet_transactions_show_this_wallets_side_newest_first(client_for):
    ride = make_completed_ride(payment_method="wallet", metered_fare=3336, price_pct=75)
    passenger = client_for(ride.passenger)
    _topup(passenger, 10_000)
    settlement = ride_settle(ride_id=ride.id)
    refund = ride_refund(ride_id=ride.id)

    body = passenger.get("/api/v1/wallet/transactions").json()

    assert body["count"] == 3 and body["next"] is None and body["previous"] is None
    assert [(row["kind"], row["amount"], row["ride_id"]) for row in body["results"]] == [
        ("refund", 2502, str(ride.id)),
        ("ride_payment", -2502, str(ride.id)),
        ("topup", 10_000, None),
    ]
    assert [row["id"] for row in body["results"][:2]] == [str(refund.id), str(settlement.id)]
    assert all(row["created_at"] for row in body["results"])


def test_the_driver_sees_the_payout_in_the_wallet(client_for):
    ride = make_completed_ride(payment_method="wallet", metered_fare=3336, price_pct=75)
    ride_settle(ride_id=ride.id)

    driver = client_for(ride.driver)

    assert driver.get("/api/v1/wallet").json()["balance"] == 2377
    assert [(row["kind"], row["amount"]) for row in driver.get("/api/v1/wallet/transactions").json()["results"]] == [
        ("ride_payout", 2377)
    ]


def test_nobody_sees_another_users_wallet_transactions(client_for):
    owner = make_passenger()
    _topup(client_for(owner), 10_000)

    body = client_for(make_driver()).get("/api/v1/wallet/transactions").json()

    assert body["count"] == 0 and body["results"] == []


def test_wallet_transactions_are_paginated(client_for):
    client = client_for(make_passenger())
    for n in range(21):
        _topup(client, 10_000, key=f"k{n}")

    first = client.get("/api/v1/wallet/transactions").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 21 and len(first["results"]) == 20
    assert len(second["results"]) == 1 and second["next"] is None
    assert ledger_findings().is_clean
