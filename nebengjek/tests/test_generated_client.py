"""A Python client generated from the live /api/schema/ drives a whole ride through its typed functions and models.

It proves the document types every operation end to end: a free-form answer would surface as a dict (or
fail to parse) here. The client talks to Django's WSGI application through httpx's WSGI transport (no server).
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from matching.tests.helpers import DESTINATION, PICKUP, north_of

PACKAGE = "nebengjek_generated_client"
GENERATOR = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)) or shutil.which(
    "openapi-python-client"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is not installed (requirements-dev.txt)"),
]


@pytest.fixture
def wsgi_transport():
    """httpx into the WSGI app; like Django's test client, requests do not close the test's DB connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield httpx.WSGITransport(app=get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def generated(tmp_path, wsgi_transport):
    """The client package generated from GET /api/schema/ and imported; removed from sys.modules afterwards."""
    schema = httpx.Client(transport=wsgi_transport, base_url="http://testserver").get("/api/schema/?format=json")
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")  # no formatter run: the code is only imported
    subprocess.run(
        [
            GENERATOR,
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--meta",
            "none",
            "--config",
            str(tmp_path / "config.yaml"),
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield _Generated(wsgi_transport)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class _Generated:
    def __init__(self, transport):
        self.transport = transport
        self.client = importlib.import_module(PACKAGE)
        self.models = importlib.import_module(f"{PACKAGE}.models")

    def api(self, name):
        return importlib.import_module(f"{PACKAGE}.api.v1.{name}")

    def anonymous(self):
        return self.client.Client(
            base_url="http://testserver", raise_on_unexpected_status=True, httpx_args={"transport": self.transport}
        )

    def signed_in(self, access):
        return self.client.AuthenticatedClient(
            base_url="http://testserver",
            token=access,
            raise_on_unexpected_status=True,
            httpx_args={"transport": self.transport},
        )


def _sign_in(gen, sms_outbox, msisdn):
    m = gen.models
    anonymous = gen.anonymous()
    sent = gen.api("v1_auth_otp_request_create").sync(client=anonymous, body=m.OtpRequestInputRequest(msisdn=msisdn))
    assert isinstance(sent, m.OtpRequestOutput) and sent.expires_in > 0
    verified = gen.api("v1_auth_otp_verify_create").sync(
        client=anonymous, body=m.OtpVerifyInputRequest(msisdn=msisdn, code=sms_outbox.last_code(sent.msisdn))
    )
    assert isinstance(verified, m.OtpVerifyOutput) and verified.is_new_user is True
    return gen.signed_in(verified.access), verified.user


def test_a_client_generated_from_the_schema_drives_a_whole_ride_with_typed_models(generated, sms_outbox):
    gen, m = generated, generated.models
    passenger, passenger_user = _sign_in(gen, sms_outbox, "081211110001")
    driver, _ = _sign_in(gen, sms_outbox, "081211110002")

    me = gen.api("v1_me_driver_create").sync(
        client=driver,
        body=m.DriverRegisterInputRequest(vehicle_type=m.VehicleTypeEnum.MOTORCYCLE, vehicle_plate="B 1234 XYZ"),
    )
    assert isinstance(me, m.UserOutput) and me.driver.vehicle_plate == "B 1234 XYZ"
    beacon = gen.api("v1_drivers_me_beacon_create").sync(client=driver, body=m.BeaconRequest(active=True))
    assert beacon.active is True
    lat, lng = north_of(PICKUP, 50)
    assert gen.api("v1_locations_create").sync(client=driver, body=m.LocationInputRequest(lat=lat, lng=lng)).accepted

    asked = gen.api("v1_rides_requests_create").sync(
        client=passenger,
        body=m.RequestCreateInputRequest(
            pickup=m.PointInputRequest(lat=PICKUP[0], lng=PICKUP[1]),
            destination=m.PointInputRequest(lat=DESTINATION[0], lng=DESTINATION[1]),
        ),
    )
    assert isinstance(asked, m.RideRequest) and asked.status == m.RequestStatusEnum.SEARCHING
    assert asked.match is None and asked.fare_estimate.amount > 0

    # The driver finds the proposal among the stored events (the REST twin of the socket's pushes).
    events = gen.api("v1_events_retrieve").sync(client=driver).results
    proposal = next(event.match for event in events if isinstance(event, m.MatchProposalMessage))
    assert isinstance(proposal, m.Proposal) and proposal.request_id == asked.id
    assert proposal.passenger.full_name == passenger_user.full_name
    accepted = gen.api("v1_matches_accept_create").sync(proposal.id, client=driver)
    assert isinstance(accepted, m.Match) and accepted.status == m.MatchStatusEnum.ACCEPTED
    assert accepted.driver.vehicle_plate == "B 1234 XYZ"

    found = gen.api("v1_rides_requests_retrieve").sync(asked.id, client=passenger)
    assert found.status == m.RequestStatusEnum.DRIVER_FOUND and found.match.id == proposal.id
    ride = gen.api("v1_rides_requests_confirm_create").sync(asked.id, client=passenger)
    assert isinstance(ride, m.RideOutput) and ride.status == m.RideStatusEnum.DRIVER_EN_ROUTE
    assert gen.api("v1_rides_start_create").sync(ride.id, client=driver).status == m.RideStatusEnum.IN_PROGRESS
    ended = gen.api("v1_rides_end_create").sync(ride.id, client=driver, body=m.RideEndInputRequest())
    assert ended.status == m.RideStatusEnum.COMPLETED and ended.fare.charged_amount > 0

    pushed = [
        event.ride
        for event in gen.api("v1_events_retrieve").sync(client=passenger).results
        if isinstance(event, m.RideUpdatedMessage)
    ]
    detail = gen.api("v1_rides_retrieve").sync(ride.id, client=passenger).to_dict()
    assert detail.pop("driver_position") is None  # live, the detail's only: none once the ride ended
    assert pushed[-1].to_dict() == detail
    receipt = gen.api("v1_rides_receipt_retrieve").sync(ride.id, client=passenger)
    assert isinstance(receipt, m.ReceiptOutput) and receipt.charged_amount == ended.fare.charged_amount
    rating = gen.api("v1_rides_rating_create").sync(ride.id, client=passenger, body=m.RatingInputRequest(stars=5))
    assert isinstance(rating, m.RatingOutput) and rating.stars == 5 and rating.rated_user_id == accepted.driver.id
