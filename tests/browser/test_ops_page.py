"""The operations page in a real headless browser (Debian's Chromium through Playwright): a staff user logs in,
opens /ops/, a driver goes online through the REST API, and the driver's marker appears on the map.

pytest-django's `live_server` is WSGI (no WebSocket), so this test starts the real stack — `manage.py runstack`:
uvicorn, a Celery worker and beat (the ops broadcaster) — on a free port, against its own SQLite file and its own
Redis database, and talks to it only over HTTP, the socket and the browser. The screenshot goes to var/ops.png
(OPS_SCREENSHOT=docs/ops.png refreshes the README's).
"""
import os
from contextlib import contextmanager

import httpx
import pytest

from tests.browser.live_stack import ROOT, STAFF_MSISDN, STAFF_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The README's screenshot is refreshed only on request (OPS_SCREENSHOT=docs/ops.png); otherwise it goes to var/.
SCREENSHOT = ROOT / os.environ.get("OPS_SCREENSHOT", "var/ops.png")
DRIVER_MSISDN = "+6281219876543"
PASSENGER_MSISDN = "+6281219876544"
MONAS = (-6.175392, 106.827153)

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
        assert api.post("/me/driver", json={"vehicle_type": "motorcycle",
                                            "vehicle_plate": "B 4321 OPS"}).status_code == 201
        assert api.post("/drivers/me/beacon", json={"active": True}).json() == {"active": True}
        assert api.post("/locations", json={"lat": point[0], "lng": point[1]}).json() == {"accepted": True}
        return api.user_id


def passenger_requests_a_ride_over_rest(stack, pickup):
    with signed_in_api(stack, PASSENGER_MSISDN) as api:
        response = api.post("/rides/requests", json={"pickup": {"lat": pickup[0], "lng": pickup[1]},
                                                     "destination": {"lat": pickup[0] - 0.01, "lng": pickup[1]}})
        assert response.status_code == 201, response.text
        return response.json()["id"]


def test_staff_sees_a_driver_marker_appear_live_after_the_driver_goes_online(stack):
    stack.manage("seed", "--drivers", "25", "--passengers", "5")  # a populated map, and the staff user
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(stack.url + "/ops/")
        assert "/admin/login/" in page.url  # staff only: the admin login first
        page.fill("#id_username", STAFF_MSISDN)
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(stack.url + "/ops/")
        page.wait_for_selector("#ops-status[data-state=live]", timeout=20_000)
        page.wait_for_selector("path.ops-driver", timeout=10_000)  # the seeded drivers, server-rendered

        driver_id = driver_goes_online_over_rest(stack, MONAS)

        page.wait_for_selector(f'path.ops-driver[data-id="{driver_id}"]', state="attached", timeout=15_000)
        assert int(page.text_content("#c-online_drivers")) == 26
        request_id = passenger_requests_a_ride_over_rest(stack, (MONAS[0] + 0.002, MONAS[1] + 0.002))
        page.wait_for_selector(f'path.ops-request[data-id="{request_id}"]', state="attached", timeout=15_000)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        browser.close()
