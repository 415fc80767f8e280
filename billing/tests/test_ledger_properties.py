"""Property: whatever mix of settlements (also repeated), top-ups (also replayed) and refunds happens, every
transaction balances, reconcile_ledger is clean, and each wallet holds what a plain reference model says."""

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import make_driver, make_passenger
from billing.selectors import ledger_findings, wallet_balance
from billing.services import ride_refund, ride_settle, topup_create
from billing.tests.factories import make_completed_ride
from nebengjek.errors import DomainError

# Metered fares from the minimum fare (FARE_MINIMUM_IDR, 3,000) up: no ride is priced below it.
rides = st.tuples(
    st.just("ride"),
    st.integers(0, 1),
    st.integers(0, 1),
    st.integers(3_000, 60_000),
    st.integers(1, 100),
    st.sampled_from(["cash", "wallet"]),
)
topups = st.tuples(st.just("topup"), st.integers(0, 3), st.sampled_from([10_000, 25_000, 2_000_000]), st.integers(0, 2))
refunds = st.tuples(st.just("refund"), st.integers(0, 5))
resettles = st.tuples(st.just("settle_again"), st.integers(0, 5))
operations = st.lists(st.one_of(rides, topups, refunds, resettles), max_size=8)


class ReferenceLedger:
    """The contract's money rules, computed the obvious way."""

    def __init__(self):
        self.balances = defaultdict(int)
        self.topup_keys = {}
        self.refunded = set()

    def ride(self, ride):
        if ride.payment_method == "wallet":
            self.balances[ride.passenger_id] -= ride.charged_amount
            self.balances[ride.driver_id] += ride.driver_payout
        else:
            self.balances[ride.driver_id] -= ride.admin_fee

    def refund(self, ride):
        self.balances[ride.passenger_id] += ride.charged_amount
        self.balances[ride.driver_id] -= ride.driver_payout


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations)
def test_any_sequence_of_money_movements_keeps_the_ledger_balanced(ops):
    passengers, drivers = [make_passenger(), make_passenger()], [make_driver(), make_driver()]
    users = passengers + drivers
    reference, settled = ReferenceLedger(), []

    for op in ops:
        if op[0] == "ride":
            _, p, d, fare, pct, method = op
            ride = make_completed_ride(
                passenger=passengers[p], driver=drivers[d], metered_fare=fare, price_pct=pct, payment_method=method
            )
            ride_settle(ride_id=ride.id)
            reference.ride(ride)
            settled.append(ride)
        elif op[0] == "topup":
            _, u, amount, key = op
            first_amount = reference.topup_keys.setdefault((u, key), amount)
            try:
                topup_create(user_id=users[u].id, amount=amount, idempotency_key=f"key-{key}")
            except DomainError as exc:
                assert exc.code == "idempotency_key_reused" and first_amount != amount
            else:
                assert first_amount == amount
                if (u, key, "done") not in reference.topup_keys:
                    reference.topup_keys[(u, key, "done")] = True
                    reference.balances[users[u].id] += amount
        elif settled:
            ride = settled[op[1] % len(settled)]
            if op[0] == "settle_again":
                ride_settle(ride_id=ride.id)
            elif ride.id in reference.refunded:
                try:
                    ride_refund(ride_id=ride.id)
                except DomainError as exc:
                    assert exc.code == "already_refunded"
            else:
                ride_refund(ride_id=ride.id)
                reference.refund(ride)
                reference.refunded.add(ride.id)

    findings = ledger_findings()
    assert findings.is_clean, findings
    assert {user.id: wallet_balance(user_id=user.id) for user in users} == {
        user.id: reference.balances[user.id] for user in users
    }
