"""The plausibility filter (../shared/API.md "Meter"): dropped positions change nothing and are counted."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.tests.factories import make_driver
from locations.selectors import user_last_position
from locations.services import location_ingest
from locations.tests.helpers import MONAS, north_of


def dropped(outcome):
    return REGISTRY.get_sample_value("nebengjek_location_updates_total", {"outcome": outcome}) or 0


@pytest.fixture
def moving_driver():
    driver = make_driver()
    assert location_ingest(user=driver, lat=MONAS[0], lng=MONAS[1], recorded_at=timezone.now() - timedelta(seconds=30))
    return driver


def test_a_position_older_than_the_last_accepted_one_is_dropped_and_counted(moving_driver):
    before = dropped("out_of_order")

    assert not location_ingest(
        user=moving_driver, lat=MONAS[0], lng=MONAS[1], recorded_at=timezone.now() - timedelta(seconds=31)
    )

    assert dropped("out_of_order") == before + 1


def test_a_position_less_accurate_than_50_m_is_dropped(moving_driver):
    before = dropped("inaccurate")

    assert not location_ingest(user=moving_driver, lat=MONAS[0], lng=MONAS[1], accuracy_m=50.5)
    assert location_ingest(user=moving_driver, lat=MONAS[0], lng=MONAS[1], accuracy_m=50)
    assert dropped("inaccurate") == before + 1


def test_a_position_implying_more_than_200_kmh_is_dropped_and_keeps_the_last_one(moving_driver):
    before = dropped("too_fast")
    ten_seconds_later = timezone.now() - timedelta(seconds=20)

    assert not location_ingest(
        user=moving_driver, lat=north_of(MONAS, 600)[0], lng=MONAS[1], recorded_at=ten_seconds_later
    )  # 600 m in 10 s = 216 km/h

    assert dropped("too_fast") == before + 1
    assert user_last_position(user_id=moving_driver.id).lat == MONAS[0]


def test_a_position_at_just_under_200_kmh_is_accepted(moving_driver):
    ten_seconds_later = timezone.now() - timedelta(seconds=20)

    assert location_ingest(
        user=moving_driver, lat=north_of(MONAS, 550)[0], lng=MONAS[1], recorded_at=ten_seconds_later
    )  # 198 km/h


def test_a_position_recorded_in_the_future_is_dropped(moving_driver):
    before = dropped("future")

    assert not location_ingest(
        user=moving_driver, lat=MONAS[0], lng=MONAS[1], recorded_at=timezone.now() + timedelta(minutes=1)
    )

    assert dropped("future") == before + 1


def test_a_position_without_recorded_at_is_timed_on_arrival(moving_driver):
    assert location_ingest(user=moving_driver, lat=north_of(MONAS, 100)[0], lng=MONAS[1])

    assert abs((timezone.now() - user_last_position(user_id=moving_driver.id).recorded_at).total_seconds()) < 2
