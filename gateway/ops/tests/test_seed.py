"""`manage.py seed`: idempotent Jakarta data, drivers online in the live index, a staff user who can log in."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import DriverProfile, User
from billing.selectors import wallet_balance
from locations.selectors import drivers_available_near, user_last_position


def seed(**options):
    out = io.StringIO()
    call_command("seed", stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_seeding_twice_creates_each_person_once():
    seed(drivers=3, passengers=2)

    second = seed(drivers=3, passengers=2)

    assert User.objects.filter(msisdn__startswith="+628129").count() == 3
    assert User.objects.filter(msisdn__startswith="+628139").count() == 2
    assert "(0 new" in second


def test_seeded_drivers_are_verified_jakarta_drivers_with_plates():
    seed(drivers=2, passengers=0)

    profiles = DriverProfile.objects.select_related("user").all()

    assert all(profile.is_verified and profile.user.role == "driver" for profile in profiles)
    assert all(re.fullmatch(r"B \d{4} [A-Z]{2,3}", profile.vehicle_plate) for profile in profiles)


def test_seeded_drivers_are_available_in_the_live_index():
    seed(drivers=2, passengers=0)
    driver = User.objects.get(msisdn="+6281290000000")
    position = user_last_position(user_id=driver.pk)

    found = drivers_available_near(lat=position.lat, lng=position.lng, radius_m=50)

    assert str(driver.pk) in [nearby.id for nearby in found]
    assert -6.4 < position.lat < -6.0 and 106.6 < position.lng < 107.0


def test_same_seed_gives_the_same_people_and_places():
    seed(drivers=1, passengers=0, seed=7)
    driver = User.objects.get(msisdn="+6281290000000")
    first = (driver.full_name, driver.driver_profile.vehicle_plate, user_last_position(user_id=driver.pk))

    seed(drivers=1, passengers=0, seed=7)
    driver.refresh_from_db()

    assert (driver.full_name, driver.driver_profile.vehicle_plate, user_last_position(user_id=driver.pk))[:2] == first[
        :2
    ]
    assert (user_last_position(user_id=driver.pk).lat, user_last_position(user_id=driver.pk).lng) == (
        first[2].lat,
        first[2].lng,
    )


def test_seeded_passengers_get_wallet_money_once():
    seed(drivers=0, passengers=1)
    seed(drivers=0, passengers=1)

    passenger = User.objects.get(msisdn="+6281390000000")

    assert wallet_balance(user_id=passenger.pk) == 150_000


def test_staff_user_is_printed_and_can_log_in_with_the_printed_password():
    out = seed(drivers=0, passengers=0)

    password = re.search(r"password (\S+)", out).group(1)
    assert Client().login(msisdn="+628110000000", password=password)


def test_staff_password_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEED_STAFF_PASSWORD", "a-long-operator-password")

    out = seed(drivers=0, passengers=0)

    assert "a-long-operator-password" not in out
    assert Client().login(msisdn="+628110000000", password="a-long-operator-password")


def test_seed_refuses_a_staff_number_in_non_ascii_digits():
    with pytest.raises(CommandError, match="Not a valid Telkomsel number"):
        seed(drivers=0, passengers=0, staff_msisdn="0811٠٠٠٠٠٠٠")

    assert not User.objects.filter(is_staff=True).exists()


def test_reseeding_keeps_an_existing_staff_password():
    first = seed(drivers=0, passengers=0)
    password = re.search(r"password (\S+)", first).group(1)

    second = seed(drivers=0, passengers=0)

    assert "password unchanged" in second
    assert Client().login(msisdn="+628110000000", password=password)


def test_seed_refuses_a_production_system(settings):
    settings.NEBENGJEK_ENV = "production"

    with pytest.raises(CommandError):
        seed(drivers=1, passengers=0)
