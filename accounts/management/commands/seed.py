"""`manage.py seed`: a believable Jakarta to look at and to simulate against — drivers online around busy places,
passengers with some wallet money, and a staff user for /admin/ and /ops/. Idempotent: user i is always the same
number, name, plate and position for the same --seed; running again only adds what is missing."""

import os
import random
import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from faker import Faker

from accounts import services as accounts_services
from accounts.models import DriverProfile, Role, User, VehicleType

# Seeded users are recognisable by number: drivers +628129xxxxxxx, passengers +628139xxxxxxx (Telkomsel 812/813).
DRIVER_MSISDN = "+628129{index:07d}"
PASSENGER_MSISDN = "+628139{index:07d}"
DRIVER_MSISDN_PREFIX = "+628129"
PASSENGER_MSISDN_PREFIX = "+628139"
DEFAULT_STAFF_MSISDN = "+628110000000"
PASSENGER_WALLET_IDR = 150_000

# Busy places (lat, lng, weight): drivers wait around them, passengers ask for rides from them.
HOTSPOTS = [
    ("Monas", -6.175392, 106.827153, 3),
    ("Sudirman-SCBD", -6.225014, 106.808990, 5),
    ("Blok M", -6.244370, 106.800300, 3),
    ("Kuningan", -6.229700, 106.830500, 3),
    ("Tanah Abang", -6.186200, 106.810600, 3),
    ("Senen", -6.176600, 106.841200, 2),
    ("Kemang", -6.260700, 106.813300, 2),
    ("Kelapa Gading", -6.158800, 106.905600, 2),
    ("Grogol", -6.167600, 106.790100, 2),
    ("Cawang", -6.242500, 106.873500, 2),
    ("Pluit", -6.119700, 106.790000, 1),
]
SPREAD_DEG = 0.008  # ~0.9 km standard deviation around a hotspot


def jakarta_point(rng):
    """A point near a weighted-random hotspot."""
    _name, lat, lng, _weight = rng.choices(HOTSPOTS, weights=[h[3] for h in HOTSPOTS])[0]
    return round(rng.gauss(lat, SPREAD_DEG), 6), round(rng.gauss(lng, SPREAD_DEG), 6)


def _rng(seed, kind, index):
    return random.Random(f"{seed}:{kind}:{index}")


def _name(rng):
    fake = Faker("id_ID")
    fake.seed_instance(rng.getrandbits(32))
    return fake.name()


def _plate(rng, index):
    """Jakarta plates: `B <number> <letters>`; the number comes from the index, so plates do not collide."""
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.choice((2, 3))))
    return f"B {1000 + index % 9000} {letters}"


class Command(BaseCommand):
    help = (
        "Create (idempotently) Jakarta drivers online in the live index, passengers with wallet money, "
        "and a staff user."
    )

    def add_arguments(self, parser):
        parser.add_argument("--drivers", type=int, default=50)
        parser.add_argument("--passengers", type=int, default=50)
        parser.add_argument("--seed", type=int, default=42, help="same seed, same people and places")
        parser.add_argument("--staff-msisdn", default=os.environ.get("SEED_STAFF_MSISDN", DEFAULT_STAFF_MSISDN))
        parser.add_argument("--offline", action="store_true", help="do not put the drivers online")
        parser.add_argument("--force", action="store_true", help="allow seeding when NEBENGJEK_ENV=production")

    def handle(self, *args, drivers, passengers, seed, staff_msisdn, offline, force, **options):
        if settings.NEBENGJEK_ENV == "production" and not force:
            raise CommandError("Refusing to seed a production system (use --force if you really mean it).")
        if drivers < 0 or passengers < 0:
            raise CommandError("--drivers and --passengers must be >= 0.")
        created_drivers = sum(self._driver(seed, index, online=not offline) for index in range(drivers))
        created_passengers = sum(self._passenger(seed, index) for index in range(passengers))
        self.stdout.write(
            f"drivers: {drivers} ({created_drivers} new, {DRIVER_MSISDN_PREFIX}…), "
            f"{'online now' if not offline and drivers else 'offline'}"
        )
        self.stdout.write(f"passengers: {passengers} ({created_passengers} new, {PASSENGER_MSISDN_PREFIX}…)")
        self._staff(staff_msisdn)
        if drivers and not offline:
            self.stdout.write(
                f"Seeded drivers stay on the map while their position is fresh "
                f"({settings.LOCATION_FRESH_SECONDS} s); `manage.py simulate` keeps them moving."
            )

    def _driver(self, seed, index, *, online):
        from locations.services import beacon_set, location_ingest

        rng = _rng(seed, "driver", index)
        name, vehicle = _name(rng), rng.choices([VehicleType.MOTORCYCLE, VehicleType.CAR], weights=[3, 1])[0]
        plate, point = _plate(rng, index), jakarta_point(rng)
        with transaction.atomic():
            user, created = User.objects.get_or_create(
                msisdn=DRIVER_MSISDN.format(index=index), defaults={"full_name": name}
            )
            if not hasattr(user, "driver_profile"):
                user = accounts_services.driver_register(user=user, vehicle_type=vehicle, vehicle_plate=plate)
            profile = DriverProfile.objects.get(user=user)
            if not profile.is_verified:
                accounts_services.driver_verify(profile=profile)
        if online:
            beacon_set(user=user, active=True)
            location_ingest(user=user, lat=point[0], lng=point[1])
        return created

    def _passenger(self, seed, index):
        rng = _rng(seed, "passenger", index)
        user, created = User.objects.get_or_create(
            msisdn=PASSENGER_MSISDN.format(index=index), defaults={"full_name": _name(rng), "role": Role.PASSENGER}
        )
        self._wallet_topup(user)
        return created

    def _wallet_topup(self, user):
        """One top-up per seeded passenger ever (its idempotency key), through the configured gateway."""
        from billing.services import topup_create
        from nebengjek.errors import DomainError

        try:
            topup_create(user_id=user.pk, amount=PASSENGER_WALLET_IDR, idempotency_key=f"seed:{user.msisdn}")
        except DomainError as exc:
            self.stderr.write(f"wallet top-up for {user.msisdn} refused: {exc.code}")

    def _staff(self, msisdn):
        from django.core.exceptions import ValidationError

        from accounts.msisdn import msisdn_clean

        try:
            msisdn = msisdn_clean(msisdn)
        except ValidationError as exc:
            raise CommandError(f"--staff-msisdn {msisdn!r}: {exc.messages[0]}") from exc
        password = os.environ.get("SEED_STAFF_PASSWORD", "")
        user, created = User.objects.get_or_create(msisdn=msisdn, defaults={"full_name": "Operator"})
        if not created and not password:
            self.stdout.write(f"staff user {msisdn} exists; password unchanged (set SEED_STAFF_PASSWORD to reset it)")
            self._promote(user)
            return
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        self._promote(user)
        shown = password if generated else "(the one in SEED_STAFF_PASSWORD)"
        self.stdout.write(
            self.style.SUCCESS(
                f"staff user: log in at /admin/ (then /ops/) with phone number {msisdn} and password {shown}"
            )
        )

    def _promote(self, user):
        if not (user.is_staff and user.is_superuser and user.is_active):
            user.is_staff = user.is_superuser = user.is_active = True
            user.save(update_fields=["is_staff", "is_superuser", "is_active"])
