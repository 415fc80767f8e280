"""Settling many rides in one commit (settle_rides, the sweeper), and the platform balance summed from entries."""

from accounts.tests.factories import make_driver, make_passenger
from billing import tasks
from billing.models import AccountKind, LedgerTransaction, TransactionPurpose
from billing.selectors import ledger_findings, system_account_balance, wallet_balance
from billing.services import ride_settle, topup_create
from billing.tests.factories import make_completed_ride
from rides.models import RideStatus


def _settlements(rides):
    return LedgerTransaction.objects.filter(ride__in=rides, purpose=TransactionPurpose.SETTLEMENT)


def test_settle_rides_posts_one_keyed_transaction_per_ride():
    # given three completed rides of one driver, cash and wallet
    driver = make_driver()
    rides = [
        make_completed_ride(driver=driver, payment_method=method, metered_fare=10_000, price_pct=80)
        for method in ("cash", "wallet", "cash")
    ]
    # when one task settles them together
    posted = tasks.settle_rides([str(ride.pk) for ride in rides])
    # then each ride holds its own settlement with its own key, and the driver's wallet moved by all three
    assert posted == 3
    assert sorted(_settlements(rides).values_list("idempotency_key", flat=True)) == sorted(
        f"settlement:{ride.pk}" for ride in rides
    )
    assert wallet_balance(user_id=driver.pk) == -400 + 7600 - 400
    assert ledger_findings().is_clean


def test_settle_rides_run_again_changes_nothing():
    # given two rides already settled by a batch
    rides = [make_completed_ride(payment_method="wallet") for _ in range(2)]
    tasks.settle_rides([str(ride.pk) for ride in rides])
    # when the same batch is delivered again, and each ride's own task runs too
    posted = tasks.settle_rides([str(ride.pk) for ride in rides])
    for ride in rides:
        tasks.settle_ride(str(ride.pk))
    # then nothing more is posted
    assert posted == 0
    assert _settlements(rides).count() == 2
    assert ledger_findings().is_clean


def test_a_ride_that_is_not_completed_does_not_hold_back_the_others():
    # given a live ride between two completed ones
    good = [make_completed_ride(), make_completed_ride(payment_method="wallet")]
    live = make_completed_ride(status=RideStatus.IN_PROGRESS)
    # when they are settled as one batch
    posted = tasks.settle_rides([str(good[0].pk), str(live.pk), str(good[1].pk)])
    # then the completed ones are settled and the live one is not
    assert posted == 2
    assert _settlements(good).count() == 2
    assert not _settlements([live]).exists()


def test_a_ride_failing_inside_a_batch_is_left_unsettled_and_the_rest_settle():
    # given two completed rides, one of them one the ledger refuses: a wallet ride whose driver is its own
    # passenger (two entries of one transaction on one account)
    good = make_completed_ride(payment_method="wallet")
    driver = make_driver()
    bad = make_completed_ride(payment_method="wallet", driver=driver, passenger=driver)
    # when they are settled as one batch
    posted = tasks.settle_rides([str(bad.pk), str(good.pk)])
    # then the good ride is settled and the broken one is left for reconcile_ledger to report
    assert posted == 1
    assert _settlements([good]).count() == 1
    assert not _settlements([bad]).exists()
    assert ledger_findings(settle_grace_seconds=0).unsettled_rides == [str(bad.pk)]


def test_the_sweeper_settles_a_backlog_in_chunks(settings):
    # given more unsettled old rides than one chunk holds
    settings.BILLING_SETTLE_CHUNK = 2
    settings.BILLING_SETTLE_GRACE_SECONDS = 0
    rides = [make_completed_ride(payment_method="wallet" if i % 2 else "cash") for i in range(5)]
    # when the sweeper runs
    settled = tasks.settle_unsettled_rides()
    # then every ride is settled once and the ledger is clean
    assert settled == 5
    assert _settlements(rides).count() == 5
    assert ledger_findings().is_clean


def test_platform_revenue_is_the_sum_of_the_admin_fees_posted():
    # given a passenger with money, two settled rides (fees 125 and 400) and one of them refunded
    passenger = make_passenger()
    topup_create(user_id=passenger.pk, amount=20_000, idempotency_key="k1")
    first = make_completed_ride(passenger=passenger, payment_method="wallet", metered_fare=3336, price_pct=75)
    second = make_completed_ride(metered_fare=10_000, price_pct=80)
    ride_settle(ride_id=first.pk)
    ride_settle(ride_id=second.pk)
    # then the platform's balance is its fees, and gateway clearing is what the top-up brought in
    assert system_account_balance(kind=AccountKind.PLATFORM_REVENUE) == 125 + 400
    assert system_account_balance(kind=AccountKind.GATEWAY_CLEARING) == -20_000
    assert ledger_findings().is_clean


def test_a_settle_ride_task_also_settles_the_rides_published_before_it():
    # given three rides whose settle_ride messages were published but have not run yet (the pending list)
    waiting = [make_completed_ride(payment_method="wallet") for _ in range(3)]
    for ride in waiting:
        tasks._pending_push(str(ride.pk))
    mine = make_completed_ride()
    # when the task of a fourth ride runs
    tasks.settle_ride(str(mine.pk))
    # then all four are settled once, and the waiting rides' own tasks later change nothing
    assert _settlements(waiting + [mine]).count() == 4
    for ride in waiting:
        tasks.settle_ride(str(ride.pk))
    assert _settlements(waiting + [mine]).count() == 4
    assert ledger_findings().is_clean


def test_settle_ride_settles_its_ride_even_when_the_pending_list_is_lost():
    # given a ride published while the pending list was flushed away (its id is not listed)
    ride = make_completed_ride(payment_method="wallet")
    # when its own task runs
    txn_id = tasks.settle_ride(str(ride.pk))
    # then the ride is settled by its own message
    assert [str(pk) for pk in _settlements([ride]).values_list("pk", flat=True)] == [txn_id]
