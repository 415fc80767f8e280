"""The ride through its REST surface: start (100 m rule), end with price_pct, cancel, visibility, events."""

import pytest

from accounts.tests.factories import make_driver, make_passenger
from matching.models import Match, RideRequest
from nebengjek.models import Event
from rides.models import Ride, TrackPoint
from rides.tests.factories import make_confirmed_ride

NEAR_PICKUP = (-6.2005, 106.8)  # 55.6 m south of the pickup (-6.2, 106.8)
FAR_FROM_PICKUP = (-6.2015, 106.8)  # 166.8 m south of the pickup


# --- start -----------------------------------------------------------------------------------------------


def test_driver_at_the_pickup_starts_the_ride(scene):
    scene.drive(*NEAR_PICKUP)

    response = scene.start()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "in_progress" and body["started_at"] is not None
    assert body["distance_m"] == 0 and body["fare"] is None


def test_the_track_begins_at_the_drivers_position_at_start(scene):
    scene.drive(*NEAR_PICKUP)

    scene.start()

    points = list(TrackPoint.objects.filter(ride_id=scene.ride.id))
    assert [(p.lat, p.lng, p.segment_m) for p in points] == [(NEAR_PICKUP[0], NEAR_PICKUP[1], 0)]


def test_driver_more_than_100_m_from_the_pickup_cannot_start(scene):
    scene.drive(*FAR_FROM_PICKUP)

    response = scene.start()

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "too_far_from_passenger"
    assert error["details"]["reference"] == "pickup"
    assert error["details"]["distance_m"] == pytest.approx(166.8, abs=0.1)
    assert Ride.objects.get(pk=scene.ride.id).status == "driver_en_route"


def test_a_fresh_passenger_position_is_the_reference_instead_of_the_pickup(scene):
    scene.send_location(scene.passenger, *FAR_FROM_PICKUP)
    scene.at(30)
    scene.drive(*NEAR_PICKUP)  # near the pickup, 111 m from where the passenger is

    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"]["details"]["reference"] == "passenger_position"


def test_driver_next_to_a_fresh_passenger_starts_even_far_from_the_pickup(scene):
    scene.send_location(scene.passenger, *FAR_FROM_PICKUP)
    scene.at(30)
    scene.drive(-6.2016, 106.8)  # 11 m from the passenger, 178 m from the pickup

    response = scene.start()

    assert response.status_code == 200


def test_a_passenger_position_older_than_60_s_falls_back_to_the_pickup(scene):
    scene.send_location(scene.passenger, *FAR_FROM_PICKUP)
    scene.at(61)
    scene.drive(*NEAR_PICKUP)

    response = scene.start()

    assert response.status_code == 200


def test_driver_with_no_known_position_cannot_start(scene):
    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "driver_position_unknown"


def test_driver_whose_last_position_is_older_than_60_s_cannot_start(scene):
    scene.drive(*NEAR_PICKUP)
    scene.at(61)

    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "driver_position_unknown"


# --- end and the fare --------------------------------------------------------------------------------------


def _one_segment_ride(scene):
    """The contract's example: start at (-6.2, 106.8), then one accepted position at (-6.21, 106.8) a minute later."""
    scene.drive(-6.2, 106.8)
    scene.start()
    scene.at(60)
    assert scene.drive(-6.21, 106.8) is True


def test_one_segment_of_1111_95_m_at_75_percent_charges_2502(scene):
    _one_segment_ride(scene)

    response = scene.end({"price_pct": 75})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["ended_at"] is not None
    assert body["distance_m"] == 1111.95
    assert body["fare"] == {
        "metered_fare": 3336,
        "surge_multiplier": 1.0,
        "price_pct": 75,
        "charged_amount": 2502,
        "admin_fee": 125,
        "driver_payout": 2377,
        "currency": "IDR",
    }


def test_ending_without_price_pct_charges_the_full_metered_fare(scene):
    _one_segment_ride(scene)

    fare = scene.end().json()["fare"]

    assert (fare["price_pct"], fare["charged_amount"], fare["admin_fee"], fare["driver_payout"]) == (
        100,
        3336,
        166,
        3170,
    )


def test_the_surge_of_the_request_multiplies_the_metered_fare(make_scene):
    from decimal import Decimal

    scene = make_scene(surge_multiplier=Decimal("1.5"))
    _one_segment_ride(scene)

    fare = scene.end().json()["fare"]

    assert fare["surge_multiplier"] == 1.5 and fare["metered_fare"] == 5004  # 1.11195 km x 3000 x 1.5 = 5003.8


def test_the_fare_is_frozen_on_the_ride(scene):
    _one_segment_ride(scene)

    scene.end({"price_pct": 75})

    ride = Ride.objects.get(pk=scene.ride.id)
    assert (ride.metered_fare, ride.price_pct, ride.charged_amount, ride.admin_fee, ride.driver_payout) == (
        3336,
        75,
        2502,
        125,
        2377,
    )


@pytest.mark.parametrize("price_pct", [0, 101, "x", None, 75.5])
def test_price_pct_outside_1_to_100_is_400_invalid_price_pct(scene, price_pct):
    _one_segment_ride(scene)

    response = scene.end({"price_pct": price_pct})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_price_pct"
    assert Ride.objects.get(pk=scene.ride.id).status == "in_progress"


def test_ending_frees_the_driver_and_closes_the_request(scene):
    _one_segment_ride(scene)

    scene.end()

    assert Match.objects.get(pk=scene.ride.match_id).holds_driver is False
    assert RideRequest.objects.get(pk=scene.ride.request_id).is_open is False


# --- cancel ------------------------------------------------------------------------------------------------


def test_passenger_cancels_before_the_start_with_a_reason(scene):
    response = scene.passenger.post(f"{scene.url}/cancel", {"reason": "driver too slow"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["cancelled_by"] == "passenger" and body["cancel_reason"] == "driver too slow"


def test_driver_cancels_before_the_start_without_a_reason(scene):
    response = scene.driver.post(f"{scene.url}/cancel", {}, format="json")

    assert response.status_code == 200
    assert response.json()["cancelled_by"] == "driver"


def test_cancelling_frees_the_driver_and_closes_the_request(scene):
    scene.passenger.post(f"{scene.url}/cancel", {}, format="json")

    assert Match.objects.get(pk=scene.ride.match_id).holds_driver is False
    assert RideRequest.objects.get(pk=scene.ride.request_id).is_open is False


def test_a_ride_in_progress_cannot_be_cancelled_by_its_riders(scene):
    scene.started_at_pickup()

    for client in (scene.passenger, scene.driver):
        response = client.post(f"{scene.url}/cancel", {}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "invalid_ride_state"
        assert response.json()["error"]["message"] == "A ride in progress cannot be cancelled; the driver ends it."


# --- state machine -----------------------------------------------------------------------------------------


def test_starting_twice_is_409_invalid_ride_state_saying_it_is_already_in_progress(scene):
    scene.started_at_pickup()

    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "invalid_ride_state",
        "message": "This ride is already in progress.",
        "details": {"status": "in_progress", "to": "in_progress"},
    }


def test_ending_a_ride_that_has_not_started_is_409_saying_start_it_first(scene):
    response = scene.end()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_ride_state"
    assert response.json()["error"]["message"] == "This ride has not started yet; start it before ending it."


def test_ending_twice_is_409_and_keeps_the_first_fare(scene):
    _one_segment_ride(scene)
    scene.end({"price_pct": 75})

    response = scene.end({"price_pct": 50})

    assert response.status_code == 409
    assert response.json()["error"]["message"] == "This ride has already ended."
    assert Ride.objects.get(pk=scene.ride.id).price_pct == 75


def test_a_completed_ride_cannot_be_started_and_says_so(scene):
    _one_segment_ride(scene)
    scene.end()

    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_ride_state"
    assert response.json()["error"]["message"] == "A completed ride cannot be started."


def test_a_cancelled_ride_cannot_start(scene):
    scene.passenger.post(f"{scene.url}/cancel", {}, format="json")
    scene.drive(*NEAR_PICKUP)

    response = scene.start()

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_ride_state"
    assert response.json()["error"]["message"] == "A cancelled ride cannot be started."


# --- who sees what -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("get", ""), ("post", "/start"), ("post", "/end"), ("post", "/cancel")])
def test_someone_elses_ride_is_404(scene, client_for, method, path):
    stranger = client_for(make_driver())

    response = getattr(stranger, method)(f"{scene.url}{path}", {}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ride_not_found"


@pytest.mark.parametrize("path", ["/start", "/end"])
def test_the_passenger_cannot_start_or_end_the_ride_403(scene, path):
    scene.send_location(scene.passenger, *NEAR_PICKUP)

    response = scene.passenger.post(f"{scene.url}{path}", {}, format="json")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_the_driver"


def test_an_unknown_ride_is_404(scene):
    response = scene.driver.get("/api/v1/rides/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_the_ride_detail_shows_both_people_and_the_route(scene):
    body = scene.passenger.get(scene.url).json()

    driver = scene.ride.driver
    assert body["id"] == str(scene.ride.id) and body["status"] == "driver_en_route"
    assert body["driver"] == {
        "id": str(driver.id),
        "full_name": driver.full_name,
        "vehicle_type": driver.driver_profile.vehicle_type,
        "vehicle_plate": driver.driver_profile.vehicle_plate,
    }
    assert body["passenger"] == {"id": str(scene.ride.passenger.id), "full_name": scene.ride.passenger.full_name}
    assert body["pickup"] == {"lat": -6.2, "lng": 106.8} and body["destination"] == {"lat": -6.21, "lng": 106.8}
    assert body["fare"] is None and body["started_at"] is None and body["ended_at"] is None


def test_my_rides_lists_mine_as_driver_or_passenger_newest_first(client_for, clock):
    me = make_driver()
    older = make_confirmed_ride(driver=me)
    older_cancelled = client_for(me).post(f"/api/v1/rides/{older.id}/cancel", {}, format="json")
    assert older_cancelled.status_code == 200
    clock.shift(60)
    newer = make_confirmed_ride(passenger=me)  # a driver can ride as a passenger too
    make_confirmed_ride()  # someone else's

    body = client_for(me).get("/api/v1/rides").json()

    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    assert [ride["id"] for ride in body["results"]] == [str(newer.id), str(older.id)]


def test_my_rides_are_paginated(client_for, clock):
    passenger = make_passenger()
    client = client_for(passenger)
    for _ in range(21):
        ride = make_confirmed_ride(passenger=passenger)
        client.post(f"/api/v1/rides/{ride.id}/cancel", {}, format="json")

    first = client.get("/api/v1/rides").json()
    second = client.get(first["next"]).json()

    assert first["count"] == 21 and len(first["results"]) == 20 and len(second["results"]) == 1


# --- events ------------------------------------------------------------------------------------------------


def _ride_statuses_received(user):
    events = Event.objects.filter(user=user, type="ride.updated").order_by("seq")
    return [event.payload["ride"]["status"] for event in events]


def test_both_sides_receive_ride_updated_on_every_change(scene):
    _one_segment_ride(scene)
    scene.end()

    expected = ["driver_en_route", "in_progress", "completed"]
    assert _ride_statuses_received(scene.ride.driver) == expected
    assert _ride_statuses_received(scene.ride.passenger) == expected


def test_both_sides_receive_ride_updated_when_cancelled(scene):
    scene.passenger.post(f"{scene.url}/cancel", {"reason": "changed my mind"}, format="json")

    for user in (scene.ride.driver, scene.ride.passenger):
        last = Event.objects.filter(user=user, type="ride.updated").order_by("-seq").first()
        assert last.payload["ride"]["status"] == "cancelled"
        assert last.payload["ride"]["cancel_reason"] == "changed my mind"


def test_the_ride_pushed_in_ride_updated_is_the_ride_of_the_rest_answer(scene):
    _one_segment_ride(scene)
    scene.end()

    for user in (scene.ride.driver, scene.ride.passenger):
        last = Event.objects.filter(user=user, type="ride.updated").order_by("-seq").first()
        detail = scene.passenger.get(scene.url).json()
        detail.pop("driver_position")  # live, read from Redis by the detail only (rides.live_trip)
        assert last.payload["ride"] == detail


def test_a_refused_change_pushes_nothing(scene):
    scene.end()  # not started: 409

    assert _ride_statuses_received(scene.ride.passenger) == ["driver_en_route"]


# --- through every public surface, and what follows the end ------------------------------------------------


def test_the_contract_example_with_positions_sent_over_rest(scene):
    assert scene.driver.post("/api/v1/locations", {"lat": -6.2, "lng": 106.8}, format="json").json()["accepted"]
    scene.start()
    scene.at(60)
    sent = scene.driver.post("/api/v1/locations", {"lat": -6.21, "lng": 106.8, "accuracy_m": 8}, format="json")
    assert sent.status_code == 202 and sent.json() == {"accepted": True}

    fare = scene.end({"price_pct": 75}).json()["fare"]

    assert (fare["metered_fare"], fare["charged_amount"], fare["admin_fee"], fare["driver_payout"]) == (
        3336,
        2502,
        125,
        2377,
    )


def test_after_the_end_the_driver_is_available_again(scene, client_for):
    assert scene.driver.post("/api/v1/drivers/me/beacon", {"active": True}, format="json").status_code == 200
    _one_segment_ride(scene)
    looking = client_for(make_passenger())
    assert looking.get("/api/v1/drivers/nearby?lat=-6.21&lng=106.8").json()["count"] == 0  # busy on a ride

    scene.end()

    nearby = looking.get("/api/v1/drivers/nearby?lat=-6.21&lng=106.8").json()
    assert [driver["id"] for driver in nearby["drivers"]] == [str(scene.ride.driver.id)]


def test_after_a_cancel_the_driver_is_available_again(scene, client_for):
    scene.driver.post("/api/v1/drivers/me/beacon", {"active": True}, format="json")
    scene.drive(*NEAR_PICKUP)

    scene.passenger.post(f"{scene.url}/cancel", {}, format="json")

    nearby = client_for(make_passenger()).get("/api/v1/drivers/nearby?lat=-6.2&lng=106.8").json()
    assert nearby["count"] == 1


def test_after_the_end_positions_no_longer_extend_the_track(scene):
    from locations import live
    from nebengjek.redis import get_live_redis
    from rides.meter import ride_stream_key

    _one_segment_ride(scene)
    scene.end()
    scene.at(120)

    assert scene.drive(-6.22, 106.8) is True
    assert get_live_redis().xlen(ride_stream_key(scene.ride.id, scene.ride.driver_id)) == 0
    assert live.set_members_all(get_live_redis(), "pending") == set()


def test_the_end_queues_the_settlement(scene):
    _one_segment_ride(scene)

    scene.end({"price_pct": 75})

    receipt = scene.passenger.get(f"{scene.url}/receipt").json()
    assert receipt["charged_amount"] == 2502 and receipt["settled_at"] is not None
