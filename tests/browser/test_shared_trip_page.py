"""The shared-trip page in a real headless browser (Debian's Chromium through Playwright) against the real stack
(tests/browser/live_stack.py): a passenger shares a confirmed ride, someone without an account opens the link, and
the driver's marker moves on the map (no tiles) while the driver approaches, starts and drives the ride; the page
shows the plate, the driver's first name and the status, and no phone number. Screenshot: var/shared-trip.png."""

import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.live_stack import ROOT
from tests.browser.test_ops_page import CHROMIUM, CHROMIUM_ARGS, signed_in_api, wait_for

SCREENSHOT = ROOT / "var" / "shared-trip.png"
DRIVER_MSISDN, PASSENGER_MSISDN = "+6281219870101", "+6281219870102"
PICKUP, DESTINATION = (-6.17540, 106.82710), (-6.18820, 106.82345)
# The driver's way to the pickup, then on the trip: each point a few seconds after the last, at city speeds.
APPROACH = [(-6.17240, 106.82710), (-6.17390, 106.82710), (-6.17530, 106.82710)]
ON_TRIP = [(-6.17570, 106.82690), (-6.17600, 106.82670)]  # ~40 m apart: sent as they happen, a page poll apart

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/run does it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def marker_at(page):
    return page.eval_on_selector("#map", "el => el.dataset.lat && [Number(el.dataset.lat), Number(el.dataset.lng)]")


def test_someone_with_the_link_watches_the_driver_move_without_signing_in(stack):
    with signed_in_api(stack, DRIVER_MSISDN) as driver, signed_in_api(stack, PASSENGER_MSISDN) as passenger:
        assert driver.patch("/me", json={"full_name": "Budi Santoso"}).status_code == 200
        assert driver.post("/me/driver", json={"vehicle_type": "car", "vehicle_plate": "B 2024 NJK"}).status_code == 201
        assert driver.post("/drivers/me/beacon", json={"active": True}).json() == {"active": True}
        at = datetime.now(UTC) - timedelta(seconds=40)
        assert driver.post("/locations", json={"lat": -6.17100, "lng": 106.82710, "recorded_at": _iso(at)}).json()[
            "accepted"
        ]
        request = passenger.post(
            "/rides/requests",
            json={
                "pickup": {"lat": PICKUP[0], "lng": PICKUP[1]},
                "destination": {"lat": DESTINATION[0], "lng": DESTINATION[1]},
                "product": "car",
            },
        )
        assert request.status_code == 201, request.text

        def proposal():
            events = driver.get("/events", params={"after": 0}).json()["results"]
            return next((event["match"]["id"] for event in events if event["type"] == "match.proposal"), None)

        assert driver.post(f"/matches/{wait_for(proposal, 'the proposal')}/accept").status_code == 200
        ride = passenger.post(f"/rides/requests/{request.json()['id']}/confirm").json()
        link = passenger.post(f"/rides/{ride['id']}/share").json()

        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 800})
            page.goto(link["url"])
            page.wait_for_function("document.getElementById('map').dataset.lat !== undefined")
            assert marker_at(page) == [-6.17100, 106.82710]
            assert page.inner_text("#driver-name") == "Budi"
            assert page.inner_text("#vehicle-plate") == "B 2024 NJK"
            assert "on the way" in page.inner_text("#trip-status")
            assert page.locator(".leaflet-tile").count() == 0 and page.is_visible("#tiles-note")

            seen = [marker_at(page)]
            for point in APPROACH:
                at += timedelta(seconds=10)
                assert driver.post(
                    "/locations", json={"lat": point[0], "lng": point[1], "recorded_at": _iso(at)}
                ).json()["accepted"]
                page.wait_for_function(f"document.getElementById('map').dataset.lat == '{point[0]}'", timeout=15_000)
                seen.append(marker_at(page))
            assert driver.post(f"/rides/{ride['id']}/start").status_code == 200
            for point in ON_TRIP:
                sent = driver.post("/locations", json={"lat": point[0], "lng": point[1]}).json()
                assert sent == {"accepted": True}, sent
                page.wait_for_function(f"document.getElementById('map').dataset.lat == '{point[0]}'", timeout=15_000)
                seen.append(marker_at(page))
            page.wait_for_function(
                "document.getElementById('trip-status').textContent.includes('on the trip')", timeout=15_000
            )
            html = page.content()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
            browser.close()

    assert seen == [[-6.17100, 106.82710], *[list(p) for p in APPROACH], *[list(p) for p in ON_TRIP]]
    for private in (DRIVER_MSISDN, PASSENGER_MSISDN, "Santoso", DRIVER_MSISDN[3:], PASSENGER_MSISDN[3:]):
        assert private not in html, private
