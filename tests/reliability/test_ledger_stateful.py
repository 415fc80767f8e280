"""Ledger, stateful (issue 9, item 9): hypothesis drives rides (through REST: start, metered positions, end with a
price percentage, or cancel; a passenger's cancellation after the driver waited at the pickup, a driver's no-show
report, early or late, and repeated), top-ups (also replayed with the same Idempotency-Key), refunds (also repeated) and
redelivered settlement tasks in any order. After every step: every transaction sums to zero, every cached balance
equals its entries, every completed ride is settled exactly once, and each wallet and the platform's revenue hold
what a plain reference model of ../shared/API.md says; every cancellation fee is posted exactly once.
"""

import math
import os
import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import time_machine
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from rest_framework.test import APIClient

from accounts.services import tokens_issue
from accounts.tests.factories import make_driver, make_passenger
from billing.models import AccountKind, LedgerTransaction, TransactionPurpose
from billing.selectors import ledger_findings, system_account_balance, wallet_balance
from billing.services import ride_refund
from billing.tasks import settle_ride
from nebengjek.errors import DomainError
from rides.models import Ride, RideStatus
from rides.tests.arrival import driver_arrived
from rides.tests.factories import make_confirmed_ride

EARTH_RADIUS_M = 6_371_008.8
FREE_WAITING_SECONDS = 300  # settings.FREE_WAITING_SECONDS
BIKE_CANCELLATION_FEE = 5000  # settings.CANCELLATION_FEE_IDR["bike"]
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180


def haversine_m(a, b):
    (lat1, lng1), (lat2, lng2) = [(math.radians(p[0]), math.radians(p[1])) for p in (a, b)]
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def contract_fare(distance_m, surge, price_pct, waiting=0):
    metered = (
        max(
            3000,
            int(
                (Decimal(repr(distance_m)) / 1000 * 3000 * Decimal(surge))  # the minimum fare: 3,000
                .quantize(Decimal(1), ROUND_HALF_UP)
            ),
        )
        + waiting
    )
    charged = metered * price_pct // 100
    fee = charged * 5 // 100
    return metered, charged, fee, charged - fee


def client(user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user)['access']}")
    return api


def platform_revenue():
    # System accounts keep no cached balance (billing.services): the platform's revenue is the sum of its entries.
    return system_account_balance(kind=AccountKind.PLATFORM_REVENUE)


class LedgerMachine(RuleBasedStateMachine):
    live = Bundle("live_rides")
    completed = Bundle("completed_rides")
    cancelled = Bundle("cancelled_rides")

    @initialize()
    def people(self):
        self.passengers = [make_passenger() for _ in range(3)]
        self.drivers = [make_driver() for _ in range(2)]
        self.users = {user.pk: user for user in self.passengers + self.drivers}
        # Rides happen one after another on a clock of their own (each 5 minutes after the last), in the past, so
        # that every driver's positions move forward in time at a plausible speed.
        self.clock = timezone.now() - timedelta(hours=12)
        self.expected = {user.pk: 0 for user in self.passengers + self.drivers}
        self.revenue_start = platform_revenue()
        self.expected_revenue = 0
        self.busy = set()
        self.topup_keys = {}  # key -> (user id, amount)
        self.refunded = set()
        self.fees = {}  # ride id -> the cancellation fee expected (None: none)

    # --- money in ----------------------------------------------------------------------------------------------
    @rule(who=st.integers(0, 4), amount=st.integers(10_000, 2_000_000))
    def top_up(self, who, amount):
        user = (self.passengers + self.drivers)[who]
        key = f"stateful-{uuid.uuid4().hex}"
        response = self.client(user.pk).post(
            "/api/v1/wallet/topups", {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert response.status_code == 201, response.content
        self.topup_keys[key] = (user.pk, amount)
        self.expected[user.pk] += amount

    @precondition(lambda self: self.topup_keys)
    @rule(data=st.data())
    def replay_a_top_up(self, data):
        key = data.draw(st.sampled_from(sorted(self.topup_keys)))
        user_id, amount = self.topup_keys[key]
        response = self.client(user_id).post(
            "/api/v1/wallet/topups", {"amount": amount}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert response.status_code in (200, 201), response.content  # the same top-up, credited once

    # --- rides -------------------------------------------------------------------------------------------------
    @rule(target=live, p=st.integers(0, 2), d=st.integers(0, 1), method=st.sampled_from(["cash", "wallet"]))
    def confirm_a_ride(self, p, d, method):
        passenger, driver = self.passengers[p], self.drivers[d]
        if passenger.pk in self.busy or driver.pk in self.busy:
            return multiple()
        ride = make_confirmed_ride(driver=driver, passenger=passenger, payment_method=method)
        self.busy |= {passenger.pk, driver.pk}
        return ride.pk

    @rule(ride_id=consumes(live), by_driver=st.booleans())
    def cancel_before_start(self, ride_id, by_driver):
        ride = Ride.objects.get(pk=ride_id)
        who = ride.driver_id if by_driver else ride.passenger_id
        response = self.client(who).post(f"/api/v1/rides/{ride_id}/cancel", {}, format="json")
        assert response.status_code == 200 and response.json()["status"] == "cancelled", response.content
        self.busy -= {ride.driver_id, ride.passenger_id}

    @rule(target=cancelled, ride_id=consumes(live), waited=st.integers(0, 900))
    def passenger_cancels_after_the_driver_waited(self, ride_id, waited):
        ride = Ride.objects.get(pk=ride_id)
        arrived = self._next_slot()
        driver_arrived(ride, arrived)
        with time_machine.travel(arrived + timedelta(seconds=waited), tick=False):
            response = self.client(ride.passenger_id).post(f"/api/v1/rides/{ride_id}/cancel", {}, format="json")
        assert response.status_code == 200, response.content
        fee = BIKE_CANCELLATION_FEE if waited > FREE_WAITING_SECONDS else None
        assert response.json()["cancellation_fee"] == fee
        self._fee_expected(ride, fee)
        self.busy -= {ride.driver_id, ride.passenger_id}
        return ride_id

    @rule(ride_id=live, waited=st.integers(0, FREE_WAITING_SECONDS), arrived=st.booleans())
    def driver_reports_a_no_show_too_early(self, ride_id, waited, arrived):
        ride = Ride.objects.get(pk=ride_id)
        at = ride.driver_arrived_at or self._next_slot()
        if arrived and ride.driver_arrived_at is None:
            driver_arrived(ride, at)
        with time_machine.travel(at + timedelta(seconds=waited), tick=False):
            response = self.client(ride.driver_id).post(f"/api/v1/rides/{ride_id}/no-show")
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] in ("driver_not_arrived", "free_waiting_not_over")
        assert Ride.objects.get(pk=ride_id).status == RideStatus.DRIVER_EN_ROUTE

    @rule(target=cancelled, ride_id=consumes(live), waited=st.integers(FREE_WAITING_SECONDS + 1, 1800))
    def driver_reports_a_no_show(self, ride_id, waited):
        ride = Ride.objects.get(pk=ride_id)
        arrived = ride.driver_arrived_at or self._next_slot()
        driver_arrived(ride, arrived)
        with time_machine.travel(arrived + timedelta(seconds=waited), tick=False):
            response = self.client(ride.driver_id).post(f"/api/v1/rides/{ride_id}/no-show")
        assert response.status_code == 200, response.content
        assert response.json()["cancellation_fee"] == BIKE_CANCELLATION_FEE
        self._fee_expected(ride, BIKE_CANCELLATION_FEE)
        self.busy -= {ride.driver_id, ride.passenger_id}
        return ride_id

    @rule(ride_id=cancelled, by_driver=st.booleans())
    def cancel_or_report_again(self, ride_id, by_driver):
        ride = Ride.objects.get(pk=ride_id)
        if by_driver:
            response = self.client(ride.driver_id).post(f"/api/v1/rides/{ride_id}/no-show")
        else:
            response = self.client(ride.passenger_id).post(f"/api/v1/rides/{ride_id}/cancel", {}, format="json")
        assert response.status_code == 409, response.content  # a second report or cancel changes nothing

    @staticmethod
    def _waiting_charge(ride):
        """The bike policy's 300 IDR per whole minute waited past the free window (arrival to start)."""
        if ride.driver_arrived_at is None:
            return 0
        waited = (ride.started_at - ride.driver_arrived_at).total_seconds()
        return 300 * max(0, int((waited - FREE_WAITING_SECONDS) // 60))

    def _next_slot(self):
        self.clock += timedelta(minutes=40)  # past any waiting drawn: the rides' clocks never overlap
        return self.clock

    def _fee_expected(self, ride, fee):
        if fee:
            self.expected[ride.passenger_id] -= fee
            self.expected[ride.driver_id] += fee
        self.fees[ride.pk] = fee

    @rule(
        target=completed,
        ride_id=consumes(live),
        legs=st.lists(st.integers(1, 500), max_size=4),
        price_pct=st.integers(1, 100),
    )
    def drive_and_end(self, ride_id, legs, price_pct):
        self.clock += timedelta(minutes=5)
        with time_machine.travel(self.clock, tick=False):
            return self._drive_and_end(ride_id, legs, price_pct)

    def _drive_and_end(self, ride_id, legs, price_pct):
        ride = Ride.objects.get(pk=ride_id)
        driver = self.client(ride.driver_id)
        now = timezone.now()
        point = (ride.pickup_lat, ride.pickup_lng)
        times = [now - timedelta(seconds=10 * (len(legs) + 1 - i)) for i in range(len(legs) + 1)]
        assert self._locate(driver, point, times[0])
        assert driver.post(f"/api/v1/rides/{ride_id}/start", format="json").status_code == 200
        distance = 0.0
        for metres, at in zip(legs, times[1:], strict=True):
            nxt = (point[0] + metres / METRES_PER_DEGREE_LAT, point[1])
            assert self._locate(driver, nxt, at)  # <= 500 m in 10 s: plausible
            distance += haversine_m(point, nxt)
            point = nxt
        response = driver.post(f"/api/v1/rides/{ride_id}/end", {"price_pct": price_pct}, format="json")
        assert response.status_code == 200, response.content
        ride.refresh_from_db()
        metered, charged, fee, payout = contract_fare(
            ride.distance_m, ride.surge_multiplier, price_pct, waiting=self._waiting_charge(ride)
        )
        assert math.isclose(ride.distance_m, distance, abs_tol=0.01)
        assert (ride.metered_fare, ride.charged_amount, ride.admin_fee, ride.driver_payout) == (
            metered,
            charged,
            fee,
            payout,
        )
        if ride.payment_method == "wallet":
            self.expected[ride.passenger_id] -= charged
            self.expected[ride.driver_id] += payout
        else:
            self.expected[ride.driver_id] -= fee
        self.expected_revenue += fee
        self.busy -= {ride.driver_id, ride.passenger_id}
        return ride_id

    def client(self, user_id):
        return client(self.users[user_id])  # a fresh token: the ride clock moves

    @staticmethod
    def _locate(driver, point, at):
        body = {"lat": point[0], "lng": point[1], "recorded_at": at.isoformat(), "accuracy_m": 5}
        response = driver.post("/api/v1/locations", body, format="json")
        assert response.status_code == 202, response.content
        return response.json()["accepted"]

    @rule(ride_id=completed)
    def redeliver_the_settlement_task(self, ride_id):
        settle_ride(str(ride_id))  # at-least-once delivery: a second run changes nothing

    @rule(ride_id=completed)
    def refund(self, ride_id):
        ride = Ride.objects.get(pk=ride_id)
        try:
            ride_refund(ride_id=ride_id, reason="stateful test")
        except DomainError as exc:
            assert ride_id in self.refunded and exc.code == "already_refunded", exc.code
            return
        assert ride_id not in self.refunded
        self.refunded.add(ride_id)
        self.expected[ride.passenger_id] += ride.charged_amount
        self.expected[ride.driver_id] -= ride.driver_payout
        self.expected_revenue -= ride.admin_fee

    # --- what must always hold ---------------------------------------------------------------------------------
    @invariant()
    def the_ledger_reconciles(self):
        findings = ledger_findings(settle_grace_seconds=0)
        assert findings.is_clean, findings

    @invariant()
    def wallets_hold_what_the_rules_say(self):
        if not hasattr(self, "expected"):
            return
        assert {user_id: wallet_balance(user_id=user_id) for user_id in self.expected} == self.expected
        assert platform_revenue() - self.revenue_start == self.expected_revenue

    @invariant()
    def every_cancellation_fee_is_posted_exactly_once(self):
        if not hasattr(self, "fees"):
            return
        for ride_id, fee in self.fees.items():
            postings = LedgerTransaction.objects.filter(ride_id=ride_id, purpose=TransactionPurpose.CANCELLATION_FEE)
            assert postings.count() == (1 if fee else 0), (ride_id, fee)

    @invariant()
    def every_completed_ride_is_settled_exactly_once(self):
        if not hasattr(self, "expected"):
            return
        mine = Ride.objects.filter(passenger_id__in=[p.pk for p in self.passengers])
        for ride in mine:
            settlements = LedgerTransaction.objects.filter(ride=ride, purpose=TransactionPurpose.SETTLEMENT).count()
            assert settlements == (1 if ride.status == RideStatus.COMPLETED else 0), (ride.status, settlements)


LedgerMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("STATEFUL_EXAMPLES", "12")),
    stateful_step_count=14,
    deadline=None,
    database=None,
    # each step is real HTTP and SQL: shrinking a failure can take many minutes, so it is opt-in (SHRINK=1)
    phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if os.environ.get("SHRINK") else []),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_ledger_stays_balanced_through_any_mix_of_rides_top_ups_and_refunds = LedgerMachine.TestCase
