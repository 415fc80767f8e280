"""Waiting at the pickup (FREE_WAITING_SECONDS): the free window on the ride, the waiting charge on the fare, the
passenger's late cancellation and the driver's no-show report, each fee posted to the ledger exactly once."""

from datetime import timedelta

from billing.models import LedgerEntry, LedgerTransaction, TransactionPurpose
from billing.selectors import ledger_findings, wallet_balance
from rides.tests.arrival import driver_arrived
from rides.tests.conftest import T0
from rides.tests.factories import make_confirmed_ride


def passenger(scene):
    return scene.client_for(scene.ride.passenger)  # a token of now: the waiting outlasts an access token


def driver(scene):
    return scene.client_for(scene.ride.driver)


def _fee_postings(ride):
    return LedgerTransaction.objects.filter(ride=ride, purpose=TransactionPurpose.CANCELLATION_FEE)


def test_the_ride_shows_when_the_free_waiting_ends_once_the_driver_arrived(scene):
    before = passenger(scene).get(scene.url).json()
    driver_arrived(scene.ride, T0)

    after = passenger(scene).get(scene.url).json()

    assert before["free_waiting_ends_at"] is None and before["driver_arrived_at"] is None
    assert after["free_waiting_ends_at"] == "2026-11-20T08:05:00Z"


def test_a_passenger_who_cancels_after_the_free_window_pays_the_driver_the_fee_once(scene):
    driver_arrived(scene.ride, T0)
    scene.at(301)

    response = passenger(scene).post(f"{scene.url}/cancel", {}, format="json")
    again = passenger(scene).post(f"{scene.url}/cancel", {}, format="json")

    assert response.status_code == 200 and response.json()["cancellation_fee"] == 5000
    assert again.status_code == 409
    assert _fee_postings(scene.ride).count() == 1
    assert wallet_balance(user_id=scene.ride.passenger_id) == -5000  # a cash passenger now owes it
    assert wallet_balance(user_id=scene.ride.driver_id) == 5000
    assert ledger_findings(settle_grace_seconds=0).is_clean


def test_the_passenger_sees_the_fee_in_the_wallet_transactions(scene):
    driver_arrived(scene.ride, T0)
    scene.at(400)
    passenger(scene).post(f"{scene.url}/cancel", {}, format="json")

    [row] = passenger(scene).get("/api/v1/wallet/transactions").json()["results"]

    assert (row["amount"], row["kind"], row["ride_id"]) == (-5000, "cancellation_fee", str(scene.ride.id))


def test_cancelling_within_the_free_window_costs_nothing(scene):
    driver_arrived(scene.ride, T0)
    scene.at(300)

    response = passenger(scene).post(f"{scene.url}/cancel", {}, format="json")

    assert response.status_code == 200 and response.json()["cancellation_fee"] is None
    assert not _fee_postings(scene.ride).exists()


def test_cancelling_before_the_driver_arrived_costs_nothing(scene):
    scene.at(3600)

    response = passenger(scene).post(f"{scene.url}/cancel", {}, format="json")

    assert response.json()["cancellation_fee"] is None and not LedgerEntry.objects.exists()


def test_the_late_cancellation_fee_is_a_setting(scene, settings):
    settings.CANCELLATION_FEE_ON_LATE_CANCEL = False
    driver_arrived(scene.ride, T0)
    scene.at(1000)

    assert passenger(scene).post(f"{scene.url}/cancel", {}, format="json").json()["cancellation_fee"] is None


def test_a_no_show_needs_the_driver_at_the_pickup(scene):
    response = driver(scene).post(f"{scene.url}/no-show")

    assert response.status_code == 409 and response.json()["error"]["code"] == "driver_not_arrived"


def test_a_no_show_is_refused_within_the_free_window_with_its_end(scene):
    driver_arrived(scene.ride, T0)
    scene.at(299)

    response = driver(scene).post(f"{scene.url}/no-show")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "free_waiting_not_over"
    assert error["details"]["free_waiting_ends_at"].startswith("2026-11-20T08:05:00")


def test_a_no_show_after_the_free_window_cancels_the_ride_and_pays_the_driver_once(scene):
    driver_arrived(scene.ride, T0)
    scene.at(360)

    response = driver(scene).post(f"{scene.url}/no-show")
    again = driver(scene).post(f"{scene.url}/no-show")

    body = response.json()
    assert response.status_code == 200, body
    assert (body["status"], body["cancelled_by"], body["cancel_reason"], body["cancellation_fee"]) == (
        "cancelled",
        "driver",
        "no_show",
        5000,
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_ride_state"
    assert _fee_postings(scene.ride).count() == 1
    assert wallet_balance(user_id=scene.ride.driver_id) == 5000
    scene.ride.request.refresh_from_db()
    assert scene.ride.request.is_open is False  # a no-show closes the request: nobody is re-dispatched


def test_only_the_driver_reports_a_no_show(scene):
    driver_arrived(scene.ride, T0)
    scene.at(360)

    response = passenger(scene).post(f"{scene.url}/no-show")

    assert response.status_code == 403 and response.json()["error"]["code"] == "not_the_driver"


def test_a_car_no_show_costs_the_car_fee(client_for, clock):
    ride = make_confirmed_ride()
    ride.request.__class__.objects.filter(pk=ride.request_id).update(product="car")
    driver_arrived(ride, T0)
    clock.move_to(T0 + timedelta(seconds=400))

    response = client_for(ride.driver).post(f"/api/v1/rides/{ride.id}/no-show")

    assert response.json()["cancellation_fee"] == 10000


def test_waiting_past_the_free_window_is_charged_per_whole_minute_and_itemised_on_the_receipt(scene):
    driver_arrived(scene.ride, T0)
    scene.at(510)  # 210 s past the free window: 3 whole minutes x 300 (the bike policy)
    scene.driver = driver(scene)
    scene.started_at_pickup()
    scene.at(540)
    scene.drive(-6.21, 106.8)  # 1,111.95 m south: 3,336
    scene.at(600)

    ended = scene.end({"price_pct": 75})

    assert ended.status_code == 200, ended.content
    receipt = passenger(scene).get(f"{scene.url}/receipt").json()
    lines = {line["kind"]: line["amount"] for line in receipt["lines"]}
    assert lines == {
        "base": 0,
        "distance": 3336,
        "time_of_day": 0,
        "surge": 0,
        "minimum_top_up": 0,
        "waiting": 900,
        "price_adjustment": -1059,
        "admin_fee": 158,
    }
    assert receipt["metered_fare"] == 4236 and receipt["charged_amount"] == 3177
    assert sum(amount for kind, amount in lines.items() if kind != "admin_fee") == receipt["charged_amount"]
    assert receipt["driver_payout"] == receipt["charged_amount"] - lines["admin_fee"]
    settlement = LedgerTransaction.objects.get(ride=scene.ride, purpose=TransactionPurpose.SETTLEMENT)
    assert sorted(settlement.entries.values_list("amount", flat=True)) == [-158, 158]  # cash: the driver owes the fee


def test_operators_see_the_cancellation_fees_collected_and_paid(client, client_for, clock):
    from accounts.models import User

    late, no_show = make_confirmed_ride(), make_confirmed_ride()
    driver_arrived(late, T0)
    driver_arrived(no_show, T0)
    clock.move_to(T0 + timedelta(seconds=400))
    client_for(late.passenger).post(f"/api/v1/rides/{late.id}/cancel", {}, format="json")
    client_for(no_show.driver).post(f"/api/v1/rides/{no_show.id}/no-show")
    client.force_login(User.objects.create_superuser("+628129999999", "pw-for-tests"))

    page = client.get("/admin/billing/cancellationfee/")

    assert page.status_code == 200
    assert page.context["report"] == {
        "count": 2,
        "collected": 10000,
        "paid": 10000,
        "no_shows": 1,
        "late_cancellations": 1,
    }
    assert b"no-show" in page.content and b"late cancellation" in page.content
    txn = LedgerTransaction.objects.filter(purpose=TransactionPurpose.CANCELLATION_FEE).first()
    assert client.get(f"/admin/billing/cancellationfee/{txn.pk}/change/").status_code == 200
