"""The operations page in a real headless browser (Debian's Chromium through Playwright): a staff user logs in,
opens /ops/, a driver goes online through the REST API, and the driver's marker appears on the map; a ride made
over REST from request to end shows in the counters (English number format) and in the charts of each range.

pytest-django's `live_server` is WSGI (no WebSocket), so this test starts the real stack — `manage.py runstack`:
uvicorn, a Celery worker and beat (the ops broadcaster) — on a free port, against its own SQLite file and its own
Redis database, and talks to it only over HTTP, the socket and the browser. The screenshot goes to var/ops.png
(OPS_SCREENSHOT=docs/ops.png refreshes the README's).
"""

import os
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.browser.live_stack import ROOT, STAFF_MSISDN, STAFF_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's screenshot is refreshed only on request (OPS_SCREENSHOT=docs/ops.png); otherwise it goes to var/.
SCREENSHOT = ROOT / os.environ.get("OPS_SCREENSHOT", "var/ops.png")
DRIVER_MSISDN = "+6281219876543"
PASSENGER_MSISDN = "+6281219876544"
MONAS = (-6.175392, 106.827153)
RIDE_DRIVER_MSISDN = "+6281219876545"
RIDE_PASSENGER_MSISDN = "+6281219876546"
BLOK_M = (-6.2443, 106.7983)
ONE_SEGMENT_SOUTH = 0.01  # degrees of latitude: 1,111.95 m, a 3,336 IDR fare (../shared/API.md "Fare")

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/run does it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@contextmanager
def signed_in_api(stack, msisdn):
    """An API client signed in by OTP, the code read from the server's log (the development SMS backend)."""
    with httpx.Client(base_url=stack.url + "/api/v1", timeout=10) as api:
        assert api.post("/auth/otp/request", json={"msisdn": msisdn}).status_code == 202
        signed_in = api.post("/auth/otp/verify", json={"msisdn": msisdn, "code": stack.sms_code(msisdn)}).json()
        api.headers["Authorization"] = f"Bearer {signed_in['access']}"
        api.user_id = signed_in["user"]["id"]
        yield api


def driver_goes_online_over_rest(stack, point):
    """Register as a driver, beacon on, send a position: what the driver app does."""
    with signed_in_api(stack, DRIVER_MSISDN) as api:
        assert (
            api.post("/me/driver", json={"vehicle_type": "motorcycle", "vehicle_plate": "B 4321 OPS"}).status_code
            == 201
        )
        assert api.post("/drivers/me/beacon", json={"active": True}).json() == {"active": True}
        assert api.post("/locations", json={"lat": point[0], "lng": point[1]}).json() == {"accepted": True}
        return api.user_id


def passenger_requests_a_ride_over_rest(stack, pickup):
    with signed_in_api(stack, PASSENGER_MSISDN) as api:
        response = api.post(
            "/rides/requests",
            json={
                "pickup": {"lat": pickup[0], "lng": pickup[1]},
                "destination": {"lat": pickup[0] - 0.01, "lng": pickup[1]},
            },
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def wait_for(check, what, timeout=15):
    """Poll `check()` until it returns something truthy (the server works in the background); fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def ride_over_rest_from_request_to_end(stack, pickup):
    """A driver at the pickup, a passenger's request, the proposal accepted and confirmed, a 1.11 km ride ended."""
    with signed_in_api(stack, RIDE_DRIVER_MSISDN) as driver, signed_in_api(stack, RIDE_PASSENGER_MSISDN) as passenger:
        assert (
            driver.post("/me/driver", json={"vehicle_type": "motorcycle", "vehicle_plate": "B 4322 OPS"}).status_code
            == 201
        )
        assert driver.post("/drivers/me/beacon", json={"active": True}).json() == {"active": True}
        # Half a minute ago, so the trip below is a plausible speed (the meter drops a jump above 200 km/h).
        started_from = {
            "lat": pickup[0],
            "lng": pickup[1],
            "recorded_at": _iso(datetime.now(UTC) - timedelta(seconds=30)),
        }
        assert driver.post("/locations", json=started_from).json() == {"accepted": True}
        destination = (pickup[0] - ONE_SEGMENT_SOUTH, pickup[1])
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

        match_id = wait_for(proposal, "the proposal to the driver")
        assert driver.post(f"/matches/{match_id}/accept").status_code == 200
        ride = passenger.post(f"/rides/requests/{request.json()['id']}/confirm")
        assert ride.status_code == 201, ride.text
        ride_id = ride.json()["id"]
        assert driver.post(f"/rides/{ride_id}/start").status_code == 200
        arrived = {"lat": destination[0], "lng": destination[1], "recorded_at": _iso(datetime.now(UTC))}
        assert driver.post("/locations", json=arrived).json() == {"accepted": True}
        ended = driver.post(f"/rides/{ride_id}/end").json()
        assert ended["status"] == "completed"
        return ended


def open_ops_page_as_staff(browser, stack):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stack.url + "/ops/")
    assert "/admin/login/" in page.url  # staff only: the admin login first
    page.fill("#id_username", STAFF_MSISDN)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(stack.url + "/ops/")
    page.wait_for_selector("#ops-status[data-state=live]", timeout=20_000)
    return page


def test_staff_sees_a_driver_marker_appear_live_after_the_driver_goes_online(stack):
    stack.manage("seed", "--drivers", "25", "--passengers", "5")  # a populated map, and the staff user
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = open_ops_page_as_staff(browser, stack)
        page.wait_for_selector("path.ops-driver", timeout=10_000)  # the seeded drivers, server-rendered

        driver_id = driver_goes_online_over_rest(stack, MONAS)

        page.wait_for_selector(f'path.ops-driver[data-id="{driver_id}"]', state="attached", timeout=15_000)
        assert int(page.text_content("#c-online_drivers")) == 26
        request_id = passenger_requests_a_ride_over_rest(stack, (MONAS[0] + 0.002, MONAS[1] + 0.002))
        page.wait_for_selector(f'path.ops-request[data-id="{request_id}"]', state="attached", timeout=15_000)
        browser.close()


def chart_values(page, key, mark):
    return [
        float(value)
        for value in page.eval_on_selector_all(
            f"#chart-{key} svg {mark}", "marks => marks.map(mark => mark.getAttribute('data-value'))"
        )
    ]


def test_a_ride_shows_in_comma_formatted_counters_and_in_the_charts_of_each_time_range(stack):
    stack.manage("seed", "--drivers", "25", "--passengers", "5")  # a populated map for the screenshot, and staff
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = open_ops_page_as_staff(browser, stack)
        page.wait_for_selector("#charts[data-range='1h'] #chart-requests svg rect.bar", state="attached")
        favicon = page.request.get(stack.url + page.get_attribute("link[rel=icon]", "href"))
        assert favicon.status == 200 and favicon.headers["content-type"].startswith("image/svg+xml")
        assert page.request.get(stack.url + "/favicon.ico").body() == favicon.body()

        ride = ride_over_rest_from_request_to_end(stack, BLOK_M)

        assert ride["fare"]["charged_amount"] == 3336
        page.wait_for_function("document.getElementById('c-gmv_today').textContent === '3,336'", timeout=15_000)
        assert page.text_content("#c-completed_today") == "1"
        fetches = page.evaluate("window.opsSeriesFetches")
        page.click("#ranges button[data-range='15m']")
        page.wait_for_selector("#charts[data-range='15m']", state="attached")
        assert page.evaluate("window.opsSeriesFetches") > fetches
        assert len(chart_values(page, "requests", "rect.bar")) == 15
        assert sum(chart_values(page, "requests", "rect.bar")) == 1
        assert sum(chart_values(page, "completed", "rect.bar")) == 1
        assert chart_values(page, "match_rate", "circle.point") == [1]
        assert chart_values(page, "mean_pickup_m", "circle.point") == [0]
        assert page.text_content("#chart-match_rate .chart-summary") == "100% overall"
        page.click("#ranges button[data-range='24h']")
        page.wait_for_selector("#charts[data-range='24h']", state="attached")
        assert len(chart_values(page, "requests", "rect.bar")) == 48
        assert sum(chart_values(page, "completed", "rect.bar")) == 1
        page.click("#ranges button[data-range='1h']")
        page.wait_for_selector("#charts[data-range='1h']", state="attached")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        browser.close()
