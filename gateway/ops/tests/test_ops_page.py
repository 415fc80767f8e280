"""The operations page: who may open it, what it draws, and the socket token it hands to its page."""

import json
import re

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import make_driver, make_passenger
from locations.services import beacon_set, location_ingest

MONAS = (-6.175392, 106.827153)


def staff_client():
    staff = make_passenger(msisdn="+628110000001", is_staff=True)
    client = Client()
    client.force_login(staff)
    return client, staff


def initial_snapshot(html):
    found = re.search(r'<script id="ops-initial" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_anonymous_visitor_is_sent_to_the_admin_login():
    response = Client().get("/ops/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/ops/")


def test_signed_in_non_staff_user_is_sent_to_the_admin_login():
    client = Client()
    client.force_login(make_passenger())

    response = client.get("/ops/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_user_gets_no_socket_token():
    client = Client()
    client.force_login(make_passenger())

    response = client.get("/ops/token")

    assert response.status_code == 302


def test_staff_page_renders_an_online_driver_in_its_first_snapshot():
    client, _ = staff_client()
    driver = make_driver()
    beacon_set(user=driver, active=True)
    location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1])

    response = client.get("/ops/")

    assert response.status_code == 200
    snapshot = initial_snapshot(response.content.decode())
    # The GEO index keeps positions to ~0.6 m.
    assert snapshot["drivers"] == [
        [str(driver.id), pytest.approx(MONAS[0], abs=1e-5), pytest.approx(MONAS[1], abs=1e-5), 0]
    ]
    assert snapshot["counters"]["online_drivers"] == 1
    assert "vendor/leaflet/leaflet.js" in response.content.decode()


def test_staff_socket_token_is_a_short_lived_access_token_for_the_staff_user():
    client, staff = staff_client()

    body = client.get("/ops/token").json()

    token = AccessToken(body["token"])
    assert token["user_id"] == str(staff.id)
    assert token["exp"] - token["iat"] == body["expires_in"] == 120
    assert body["ws_path"] == "/ws/"


def test_snapshot_json_lists_counters_and_layers():
    client, _ = staff_client()

    body = client.get("/ops/snapshot").json()

    assert set(body) == {"at", "counters", "drivers", "requests", "rides"}
    assert set(body["counters"]) == {
        "online_drivers",
        "available_drivers",
        "searching_requests",
        "rides_en_route",
        "rides_in_progress",
        "completed_today",
        "gmv_today",
        "revenue_today",
    }


def test_server_rendered_counters_use_comma_thousands_separators():
    from rides import services as ride_services
    from rides.models import Ride
    from rides.tests.factories import make_in_progress_ride

    client, _ = staff_client()
    ride = make_in_progress_ride()
    ride = ride_services.ride_end(ride=ride, user=ride.driver)
    Ride.objects.filter(pk=ride.pk).update(
        metered_fare=1_234_567, charged_amount=1_234_567, admin_fee=12_345, driver_payout=1_222_222
    )

    html = client.get("/ops/").content.decode()

    assert 'id="c-gmv_today">1,234,567<' in html
    assert 'id="c-revenue_today">12,345<' in html
    assert "1.234.567" not in html


def test_page_links_its_svg_favicon_which_is_a_static_file():
    from django.contrib.staticfiles import finders

    client, _ = staff_client()

    html = client.get("/ops/").content.decode()

    assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html
    assert finders.find("favicon.svg").endswith("static/favicon.svg")


def test_favicon_ico_points_browsers_at_the_svg_favicon():
    response = Client().get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"
