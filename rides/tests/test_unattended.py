"""A ride whose driver went silent: flagged for operators, reported by the passenger, ended by the system and
settled like any other (rides/unattended.py)."""

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from accounts.models import User
from billing.models import LedgerTransaction
from billing.selectors import ledger_findings
from matching.models import Match, RideRequest
from nebengjek.models import Event
from rides import services
from rides.errors import RidesException
from rides.models import Ride
from rides.selectors import ride_get_for_output
from rides.tasks import track_ingest, unattended_sweep
from rides.tests.conftest import T0
from rides.unattended import ride_end_unattended
from tests.reliability.parallel import _on_postgres, at_once

STALE_S, ABANDON_S = 600, 1800
DESTINATION = (-6.21, 106.8)  # 1,111.95 m south of the pickup: 3,336 IDR at price_pct 100


def _one_segment_ride(scene, base=0):
    """Started at the pickup (-6.2, 106.8) at T0 + base; one accepted position a minute later, 1,111.95 m on; then
    silence."""
    scene.at(base)
    scene.started_at_pickup()
    scene.at(base + 60)
    assert scene.drive(*DESTINATION) is True
    track_ingest()


def _driver_heard_at(scene, seconds):
    """One more accepted position (11 m further south) at T0 + seconds, applied to the track."""
    scene.at(seconds)
    assert scene.drive(-6.2101, 106.8) is True
    track_ingest()


def _ride(scene):
    return Ride.objects.get(pk=scene.ride.id)


def _report(scene):
    passenger = scene.client_for(scene.ride.passenger)  # a fresh token: the clock may have moved past the first
    return passenger.post(f"{scene.url}/report-driver-gone", format="json")


def _last_ride_update(user_id):
    return Event.objects.filter(user_id=user_id, type="ride.updated").order_by("-seq").first().payload["ride"]


def _stale_gauge():
    return REGISTRY.get_sample_value("nebengjek_rides_stale")


# --- flagged for operators ----------------------------------------------------------------------------------


def test_a_ride_whose_driver_is_silent_for_the_stale_time_is_flagged(scene):
    _one_segment_ride(scene)
    scene.at(60 + STALE_S - 1)
    unattended_sweep()
    assert _ride(scene).stale_at is None

    scene.at(60 + STALE_S)
    unattended_sweep()

    ride = _ride(scene)
    assert ride.stale_at is not None and ride.status == "in_progress"
    assert _stale_gauge() == 1


def test_a_driver_who_keeps_sending_positions_is_never_flagged(scene):
    _one_segment_ride(scene)
    _driver_heard_at(scene, 60 + STALE_S - 10)

    scene.at(60 + STALE_S + 60)
    unattended_sweep()

    assert _ride(scene).stale_at is None


def test_the_flag_clears_when_the_driver_is_heard_again(scene):
    _one_segment_ride(scene)
    scene.at(60 + STALE_S)
    unattended_sweep()

    _driver_heard_at(scene, 60 + STALE_S + 30)
    unattended_sweep()

    assert _ride(scene).stale_at is None
    assert _stale_gauge() == 0


def test_operators_filter_the_admin_by_flagged_rides(scene, client):
    _one_segment_ride(scene)
    quiet = ride_get_for_output(scene.ride.id)
    scene.at(60 + STALE_S)
    unattended_sweep()
    client.force_login(User.objects.create_superuser("+628121111111", password="operator-pass-1"))

    flagged = client.get("/admin/rides/ride/", {"stale_at__isnull": "False"})
    unflagged = client.get("/admin/rides/ride/", {"stale_at__isnull": "True"})

    assert flagged.status_code == 200 and flagged.context["cl"].result_count == 1
    assert str(quiet.id) in flagged.content.decode()
    assert unflagged.context["cl"].result_count == 0


# --- ended after the abandon time ---------------------------------------------------------------------------


def test_an_unreported_silent_ride_stays_in_progress_until_the_abandon_time(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S - 1)

    unattended_sweep()

    assert _ride(scene).status == "in_progress"


def test_a_ride_silent_for_the_abandon_time_is_ended_on_its_track_at_the_full_fare(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S)

    unattended_sweep()

    ride = _ride(scene)
    assert ride.status == "completed" and ride.end_reason == "abandoned"
    assert round(ride.distance_m, 2) == 1111.95
    assert (ride.metered_fare, ride.price_pct, ride.charged_amount, ride.admin_fee, ride.driver_payout) == (
        3336,
        100,
        3336,
        166,
        3170,
    )


def test_an_abandoned_ride_is_settled_once_and_the_books_balance(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S)

    unattended_sweep()
    unattended_sweep()

    settlement = LedgerTransaction.objects.get(ride_id=scene.ride.id, purpose="settlement")
    assert sorted(entry.amount for entry in settlement.entries.all()) == [-166, 166]
    assert ledger_findings(settle_grace_seconds=0).is_clean


def test_both_sides_are_told_why_the_ride_ended(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S)

    unattended_sweep()

    for user_id in (scene.ride.driver_id, scene.ride.passenger_id):
        pushed = _last_ride_update(user_id)
        assert pushed["status"] == "completed" and pushed["end_reason"] == "abandoned"
        assert pushed["fare"]["charged_amount"] == 3336


def test_the_passenger_of_an_abandoned_ride_may_request_again(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S)
    unattended_sweep()

    response = scene.client_for(scene.ride.passenger).post(
        "/api/v1/rides/requests",
        {"pickup": {"lat": -6.21, "lng": 106.8}, "destination": {"lat": -6.2, "lng": 106.8}},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Match.objects.get(pk=scene.ride.match_id).holds_driver is False


def test_the_driver_ending_after_the_system_did_gets_409(scene):
    _one_segment_ride(scene)
    scene.at(60 + ABANDON_S)
    unattended_sweep()

    response = scene.client_for(scene.ride.driver).post(f"{scene.url}/end", {}, format="json")

    assert response.status_code == 409 and response.json()["error"]["code"] == "invalid_ride_state"
    assert _ride(scene).end_reason == "abandoned"


def test_a_ride_the_driver_ends_records_driver_ended(scene):
    _one_segment_ride(scene)

    body = scene.end().json()

    assert body["end_reason"] == "driver_ended" and _ride(scene).end_reason == "driver_ended"


# --- the passenger reports the driver gone ------------------------------------------------------------------


def test_the_passenger_reports_the_driver_gone_and_the_driver_is_told(scene):
    _one_segment_ride(scene)
    scene.at(120)

    response = _report(scene)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "in_progress" and body["driver_gone_reported_at"] is not None
    assert _last_ride_update(scene.ride.driver_id)["driver_gone_reported_at"] == body["driver_gone_reported_at"]


def test_a_second_report_keeps_the_first_reports_time(scene):
    _one_segment_ride(scene)
    scene.at(120)
    first = _report(scene).json()["driver_gone_reported_at"]
    scene.at(180)

    second = _report(scene)

    assert second.status_code == 200 and second.json()["driver_gone_reported_at"] == first


def test_a_reported_ride_is_ended_once_the_driver_is_silent_for_the_stale_time(scene):
    _one_segment_ride(scene)
    scene.at(120)
    _report(scene)
    scene.at(60 + STALE_S - 1)
    unattended_sweep()
    assert _ride(scene).status == "in_progress"

    scene.at(60 + STALE_S)
    unattended_sweep()

    ride = _ride(scene)
    assert ride.status == "completed" and ride.end_reason == "driver_gone" and ride.charged_amount == 3336
    assert _last_ride_update(scene.ride.driver_id)["end_reason"] == "driver_gone"


def test_a_report_after_the_stale_time_ends_the_ride_at_once(scene):
    _one_segment_ride(scene)
    scene.at(60 + STALE_S)

    response = _report(scene)

    body = response.json()
    assert response.status_code == 200 and body["status"] == "completed" and body["end_reason"] == "driver_gone"
    assert RideRequest.objects.get(pk=scene.ride.request_id).is_open is False


def test_a_report_while_the_driver_keeps_driving_does_not_end_the_ride(scene):
    _one_segment_ride(scene)
    scene.at(120)
    _report(scene)
    _driver_heard_at(scene, 60 + STALE_S - 10)

    scene.at(60 + STALE_S + 60)
    unattended_sweep()

    assert _ride(scene).status == "in_progress"


def test_the_driver_cannot_report_driver_gone(scene):
    _one_segment_ride(scene)

    response = scene.driver.post(f"{scene.url}/report-driver-gone", format="json")

    assert response.status_code == 403 and response.json()["error"]["code"] == "not_the_passenger"
    assert _ride(scene).driver_gone_reported_at is None


def test_someone_else_reporting_a_ride_gets_404(scene):
    from accounts.tests.factories import make_passenger

    response = scene.client_for(make_passenger()).post(f"{scene.url}/report-driver-gone", format="json")

    assert response.status_code == 404 and response.json()["error"]["code"] == "ride_not_found"


def test_a_ride_not_in_progress_cannot_be_reported(scene):
    response = _report(scene)  # driver_en_route

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "invalid_ride_state",
        "message": response.json()["error"]["message"],
        "details": {"status": "driver_en_route"},
    }


# --- race with the driver's own end (PostgreSQL) -------------------------------------------------------------


@pytest.mark.skipif(not _on_postgres(), reason="row-lock races need PostgreSQL")
def test_the_driver_ending_while_the_system_ends_completes_the_ride_once(make_scene, clock):
    for i in range(12):
        base = i * 2 * ABANDON_S  # each ride on its own stretch of the clock: its driver's positions move forward
        clock.move_to(T0 + timedelta(seconds=base))
        scene = make_scene()
        _one_segment_ride(scene, base)
        scene.at(base + 60 + ABANDON_S)
        seen_by_driver = ride_get_for_output(scene.ride.id)  # in progress: the driver's end goes to the locks

        by_driver, by_system = at_once(
            lambda seen=seen_by_driver: services.ride_end(ride=seen, user=seen.driver, price_pct=80),
            lambda seen=seen_by_driver: ride_end_unattended(ride_id=seen.id),
        )

        ride = _ride(scene)
        assert ride.status == "completed"
        if isinstance(by_driver, Ride):
            assert by_system is None and ride.end_reason == "driver_ended" and ride.price_pct == 80
        else:
            assert isinstance(by_driver, RidesException) and by_driver.code == "invalid_ride_state"
            assert by_system.end_reason == ride.end_reason == "abandoned" and ride.price_pct == 100
        assert LedgerTransaction.objects.filter(ride_id=ride.id, purpose="settlement").count() == 1
        completed_pushes = [
            event
            for event in Event.objects.filter(user_id=ride.passenger_id, type="ride.updated")
            if event.payload["ride"]["status"] == "completed"
        ]
        assert len(completed_pushes) == 1
    assert ledger_findings(settle_grace_seconds=0).is_clean
