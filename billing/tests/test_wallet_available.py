"""wallet_available: the balance less the charges of completed wallet rides not yet settled, in one query."""

from accounts.tests.factories import make_passenger
from billing.selectors import wallet_available
from billing.services import ride_settle, topup_create
from billing.tests.factories import make_completed_ride


def test_only_completed_wallet_rides_not_yet_settled_are_held(django_assert_num_queries):
    passenger = make_passenger()
    topup_create(user_id=passenger.pk, amount=50_000, idempotency_key="k")
    make_completed_ride(passenger=passenger, payment_method="wallet", metered_fare=4000)  # held
    make_completed_ride(passenger=passenger, payment_method="wallet", metered_fare=5000, price_pct=50)  # held: 2,500
    make_completed_ride(passenger=passenger, payment_method="cash", metered_fare=7000)  # paid in hand
    ride_settle(ride_id=make_completed_ride(passenger=passenger, payment_method="wallet", metered_fare=6000).pk)
    make_completed_ride(passenger=passenger, payment_method="wallet", status="cancelled")

    with django_assert_num_queries(1):
        wallet = wallet_available(user_id=passenger.pk)

    assert (wallet.balance, wallet.held, wallet.available) == (44_000, 6_500, 37_500)


def test_a_user_without_a_wallet_has_nothing_available():
    wallet = wallet_available(user_id=make_passenger().pk)

    assert (wallet.balance, wallet.held, wallet.available) == (0, 0, 0)
