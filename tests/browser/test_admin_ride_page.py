"""A completed ride's admin page in a real headless browser (Debian's Chromium through Playwright): the real stack
(tests/browser/live_stack.py), a ride made over REST along a bent route, then an operator opens the ride in the
admin and sees its track drawn on the map with no tiles, its money and its events. The screenshot goes to
var/admin-ride.png (ADMIN_SCREENSHOT=docs/admin-ride.png refreshes the README's)."""

import os
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from locations.geo import haversine_m
from tests.browser.live_stack import ROOT, STAFF_MSISDN, STAFF_PASSWORD
from tests.browser.test_ops_page import CHROMIUM, CHROMIUM_ARGS, signed_in_api, wait_for

SCREENSHOT = ROOT / os.environ.get("ADMIN_SCREENSHOT", "var/admin-ride.png")
DRIVER_MSISDN, PASSENGER_MSISDN = "+6281219870001", "+6281219870002"
# From Monas south-west round the square and down Jl. M.H. Thamrin: the pickup, then the driver's positions.
ROUTE = [
    (-6.17540, 106.82710),
    (-6.17655, 106.82590),
    (-6.17800, 106.82440),
    (-6.17985, 106.82330),
    (-6.18200, 106.82285),
    (-6.18430, 106.82270),
    (-6.18640, 106.82300),
    (-6.18820, 106.82345),
]
# The start needs a driver position under 60 s old; the route is then driven inside that window, below 200 km/h.
HEAD_START_S = 50

pytestmark = [pytest.mark.browser, pytest.mark.slow]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def ride_over_rest_along_the_route(stack):
    """A named driver at the pickup, the passenger's request to the route's end, accepted, confirmed, started,
    driven through ROUTE (times spread by distance so every leg is a plausible speed) and ended at 80 %."""
    with signed_in_api(stack, DRIVER_MSISDN) as driver, signed_in_api(stack, PASSENGER_MSISDN) as passenger:
        assert driver.patch("/me", json={"full_name": "Budi Santoso"}).status_code == 200
        assert passenger.patch("/me", json={"full_name": "Sari Wijaya"}).status_code == 200
        assert (
            driver.post("/me/driver", json={"vehicle_type": "motorcycle", "vehicle_plate": "B 4711 NJK"}).status_code
            == 201
        )
        assert driver.post("/drivers/me/beacon", json={"active": True}).json() == {"active": True}
        started_from = datetime.now(UTC) - timedelta(seconds=HEAD_START_S)
        pickup, destination = ROUTE[0], ROUTE[-1]
        assert driver.post(
            "/locations", json={"lat": pickup[0], "lng": pickup[1], "recorded_at": _iso(started_from)}
        ).json() == {"accepted": True}
        request = passenger.post(
            "/rides/requests",
            json={
                "pickup": {"lat": pickup[0], "lng": pickup[1]},
                "destination": {"lat": destination[0], "lng": destination[1]},
            },
        )
        assert request.status_code == 201, request.text

        def proposal():
            events = driver.get("/events", params={"after": 0}).json()["results"]
            return next((event["match"]["id"] for event in events if event["type"] == "match.proposal"), None)

        assert driver.post(f"/matches/{wait_for(proposal, 'the proposal')}/accept").status_code == 200
        ride = passenger.post(f"/rides/requests/{request.json()['id']}/confirm")
        assert ride.status_code == 201, ride.text
        ride_id = ride.json()["id"]
        assert driver.post(f"/rides/{ride_id}/start").status_code == 200
        legs = [haversine_m(*a, *b) for a, b in pairwise(ROUTE)]
        seconds_per_metre = (datetime.now(UTC) - started_from).total_seconds() / sum(legs)
        at = started_from
        for point, leg in zip(ROUTE[1:], legs, strict=True):
            at += timedelta(seconds=leg * seconds_per_metre)
            position = {"lat": point[0], "lng": point[1], "recorded_at": _iso(at)}
            assert driver.post("/locations", json=position).json() == {"accepted": True}
        ended = driver.post(f"/rides/{ride_id}/end", json={"price_pct": 80}).json()
        assert ended["status"] == "completed", ended
        wait_for(lambda: passenger.get(f"/rides/{ride_id}/receipt").json().get("settled_at"), "the settlement")
        return ended


def test_an_operator_sees_a_completed_rides_track_money_and_events_in_the_admin(stack):
    stack.manage("seed", "--drivers", "0", "--passengers", "0")  # the staff user
    ride = ride_over_rest_along_the_route(stack)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        # The admin's navigation sidebar folded away, as an operator reading a ride would have it.
        page.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        page.goto(f"{stack.url}/admin/rides/ride/{ride['id']}/change/")
        page.fill("#id_username", STAFF_MSISDN)
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#ride-map[data-ready=true]")

        assert page.locator("#ride-map path.ride-track").count() == 1
        assert page.locator("#ride-map path.ride-track-point").count() == len(ROUTE)
        assert page.locator("#ride-map .leaflet-tile").count() == 0  # no tiles here: the track is drawn anyway
        assert page.is_visible("#ride-map-tiles-note")
        money = page.inner_text(".ride-money")
        fare = ride["fare"]
        assert f"{fare['metered_fare']:,} IDR" in money
        assert f"{fare['charged_amount']:,} IDR (80 % of the fare)" in money
        assert "settlement" in money  # the ledger link
        assert page.locator("tr.ride-event").count() >= 6
        assert page.locator("input[type=submit]").count() == 0  # read-only: no Save, no Delete
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        browser.close()
