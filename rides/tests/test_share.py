"""Share my trip: the passenger's link, the public JSON and page (no sign-in), what they show and hide, expiry at
the end plus 30 minutes, and revocation."""

from datetime import timedelta
from urllib.parse import urlsplit

import time_machine
from django.utils import timezone

from locations.services import location_ingest
from rides.models import RideShare
from rides.tests.factories import make_confirmed_ride


def shared(client_for, ride):
    response = client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/share")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_passenger_gets_a_link_with_an_unguessable_token_stored_hashed(client_for):
    ride = make_confirmed_ride()

    link = shared(client_for, ride)

    assert urlsplit(link["url"]).path == f"/share/{link['token']}" and len(link["token"]) >= 40
    assert link["expires_at"] is None
    assert link["token"] not in str(list(RideShare.objects.values()))


def test_the_driver_cannot_share_the_passengers_trip(client_for):
    ride = make_confirmed_ride()

    response = client_for(ride.driver).post(f"/api/v1/rides/{ride.id}/share")

    assert response.status_code == 403 and response.json()["error"]["code"] == "not_the_passenger"


def test_the_public_state_shows_the_driver_position_plate_first_name_and_status_only(client_for, api_client):
    ride = make_confirmed_ride()
    ride.driver.full_name = "Budi Santoso"
    ride.driver.save()
    location_ingest(user=ride.driver, lat=-6.195, lng=106.8, recorded_at=timezone.now())
    link = shared(client_for, ride)

    response = api_client.get(f"/share/{link['token']}/state")

    body = response.json()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert body["status"] == "driver_en_route"
    assert body["driver"] == {
        "first_name": "Budi",
        "vehicle_plate": ride.driver.driver_profile.vehicle_plate,
        "vehicle_type": ride.driver.driver_profile.vehicle_type,
    }
    assert (body["driver_position"]["lat"], body["driver_position"]["lng"]) == (-6.195, 106.8)
    text = response.content.decode()
    for private in (
        ride.driver.msisdn,
        ride.passenger.msisdn,
        ride.passenger.full_name,
        "Santoso",
        str(ride.passenger_id),
        str(ride.driver_id),
        str(ride.id),
        "-6.2,",
        "pickup",
        "destination",
    ):
        assert private not in text, private


def test_the_public_page_renders_without_sign_in(client_for, api_client):
    ride = make_confirmed_ride()
    link = shared(client_for, ride)

    page = api_client.get(f"/share/{link['token']}")

    assert page.status_code == 200 and b"leaflet.js" in page.content and b"share.js" in page.content
    assert page["Referrer-Policy"] == "no-referrer"


def test_an_unknown_token_is_404_share_not_found(api_client):
    response = api_client.get("/share/" + "x" * 43 + "/state")

    assert response.status_code == 404 and response.json()["error"]["code"] == "share_not_found"
    assert api_client.get("/share/" + "x" * 43).status_code == 404


def test_a_revoked_link_stops_working_at_once(client_for, api_client):
    ride = make_confirmed_ride()
    link = shared(client_for, ride)

    revoked = client_for(ride.passenger).delete(f"/api/v1/rides/{ride.id}/share/{link['id']}")
    again = client_for(ride.passenger).delete(f"/api/v1/rides/{ride.id}/share/{link['id']}")

    assert revoked.status_code == 204
    assert again.status_code == 404 and again.json()["error"]["code"] == "share_not_found"
    assert api_client.get(f"/share/{link['token']}/state").status_code == 404


def test_a_link_expires_30_minutes_after_the_ride_ends(client_for, api_client):
    ride = make_confirmed_ride()
    link = shared(client_for, ride)
    assert client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/cancel", {}, format="json").status_code == 200
    ended = timezone.now()

    with time_machine.travel(ended + timedelta(minutes=29)):
        before = api_client.get(f"/share/{link['token']}/state")
    with time_machine.travel(ended + timedelta(minutes=31)):
        after = api_client.get(f"/share/{link['token']}/state")
        too_late = client_for(ride.passenger).post(f"/api/v1/rides/{ride.id}/share")

    assert before.status_code == 200 and before.json()["status"] == "cancelled"
    assert before.json()["driver_position"] is None and before.json()["expires_at"] is not None
    assert after.status_code == 404
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "share_closed"


def test_the_public_page_and_its_json_are_rate_limited_per_client_address(client_for, api_client, settings):
    settings.RIDE_SHARE_RATE_PER_MINUTE = 3
    link = shared(client_for, make_confirmed_ride())
    state, page = f"/share/{link['token']}/state", f"/share/{link['token']}"

    answers = [api_client.get(path, REMOTE_ADDR="203.0.113.7") for path in (state, page, state, state)]
    other_address = api_client.get(state, REMOTE_ADDR="203.0.113.8")

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["error"]["code"] == "throttled" and 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["details"]["retry_after_s"] == int(limited["Retry-After"])
    assert other_address.status_code == 200
