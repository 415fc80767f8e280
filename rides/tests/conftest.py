"""Rides test helpers: positions go through the public REST surface, so the stream path is the real one."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from locations.services import location_ingest
from rides.tests.factories import make_confirmed_ride

T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)


class Scene:
    """A confirmed ride with signed-in clients for its driver and passenger, and a controllable clock."""

    def __init__(self, client_for, traveller, **ride_kwargs):
        self.ride = make_confirmed_ride(**ride_kwargs)
        self.driver = client_for(self.ride.driver)
        self.passenger = client_for(self.ride.passenger)
        self.traveller = traveller
        self.client_for = client_for

    @property
    def url(self):
        return f"/api/v1/rides/{self.ride.id}"

    def at(self, seconds):
        """Move the clock to T0 + seconds."""
        self.traveller.move_to(T0 + timedelta(seconds=seconds))

    def send_location(self, client, lat, lng, recorded_at=None, accuracy_m=None):
        """The user's phone reports a position (locations' public service, as REST and the socket do)."""
        if isinstance(recorded_at, str):
            recorded_at = datetime.fromisoformat(recorded_at)
        return location_ingest(user=client.user, lat=lat, lng=lng, recorded_at=recorded_at, accuracy_m=accuracy_m)

    def drive(self, lat, lng, **extra):
        return self.send_location(self.driver, lat, lng, **extra)

    def start(self):
        return self.driver.post(f"{self.url}/start", format="json")

    def end(self, body=None):
        return self.driver.post(f"{self.url}/end", body or {}, format="json")

    def started_at_pickup(self):
        self.drive(self.ride.pickup_lat, self.ride.pickup_lng)
        response = self.start()
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def scene(client_for, clock):
    return Scene(client_for, clock)


@pytest.fixture
def make_scene(client_for, clock):
    return lambda **kwargs: Scene(client_for, clock, **kwargs)
