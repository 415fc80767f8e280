"""Bench data, made in the harness process through Django (runs after django.setup()).

Users are bulk-created once per database under msisdn ranges nobody else uses (+62852… drivers, +62851…
passengers); tokens come from accounts.services.tokens_issue (real sign-in sessions). Live positions go into Redis
through the locations ingest script (the same script a socket's update runs), pipelined.
"""

import random
import uuid

from django.db import transaction
from django.utils import timezone

# Jakarta, roughly the DKI boundary box
JAKARTA = {"lat": (-6.37, -6.09), "lng": (106.69, 106.98)}
DRIVER_PREFIX = "+62853"
PASSENGER_PREFIX = "+62851"


def random_point(rng):
    return rng.uniform(*JAKARTA["lat"]), rng.uniform(*JAKARTA["lng"])


def users_ensure(*, prefix, count, driver):
    """The first `count` bench users of this kind (created as needed), as a list of ids in msisdn order."""
    from accounts.models import DriverProfile, Role, User, VehicleType
    from locations.models import DriverPresence

    msisdns = [f"{prefix}{i:08d}" for i in range(count)]
    existing = dict(User.objects.filter(msisdn__startswith=prefix).values_list("msisdn", "id"))
    missing = [m for m in msisdns if m not in existing]
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(missing), 2000):
            chunk = missing[start : start + 2000]
            users = [
                User(
                    id=uuid.uuid4(),
                    msisdn=m,
                    full_name=f"Bench {m[-6:]}",
                    password="!",
                    role=Role.DRIVER if driver else Role.PASSENGER,
                    date_joined=now,
                )
                for m in chunk
            ]
            User.objects.bulk_create(users)
            existing.update({user.msisdn: user.id for user in users})
            if driver:
                DriverProfile.objects.bulk_create(
                    [
                        DriverProfile(
                            user=user,
                            vehicle_type=VehicleType.MOTORCYCLE,
                            is_verified=True,
                            vehicle_plate=f"BQ{user.msisdn[-8:]}",
                            verified_at=now,
                        )
                        for user in users
                    ]
                )
                DriverPresence.objects.bulk_create(
                    [DriverPresence(driver=user, beacon_active=True, beacon_changed_at=now) for user in users]
                )
    return [str(existing[m]) for m in msisdns]


def tokens_for(user_ids):
    """A fresh access token per user (a new sign-in session each: 5-minute access tokens)."""
    from accounts.models import User
    from accounts.services import tokens_issue

    users = {str(u.pk): u for u in User.objects.filter(pk__in=user_ids)}
    with transaction.atomic():
        return [tokens_issue(user=users[user_id])["access"] for user_id in user_ids]


def redis_reset():
    """An empty Redis as the sweepers leave it: with the live-state marker (without it, every first position is
    answered "state lost" until a restore) and the revoked-sessions set marked complete (else REST and the nearby
    fast path ask the database until the beat task has run)."""
    from accounts.services import revoked_sessions_repair
    from locations.services import live_state_restore
    from nebengjek.redis import get_live_redis, get_redis

    get_redis().flushdb()
    get_live_redis().flushdb()
    live_state_restore()
    revoked_sessions_repair()


def beacons_on(driver_ids):
    """Mirror the beacons (the DB rows are created on) into Redis, as locations.services.beacon_mirror does."""
    from locations import live
    from nebengjek.redis import get_live_redis

    client = get_live_redis()
    for start in range(0, len(driver_ids), 5000):
        chunk = driver_ids[start : start + 5000]
        live.bucket_writes(client, lambda pipe, keys, ids: pipe.sadd(keys.beacon, *ids), chunk)
        # the fixtures' drivers ride motorcycles: mirrored for the product filter, as beacon_mirror does
        live.hash_set_many(client, "vehicle", dict.fromkeys(chunk, "motorcycle"))


def positions_load(points):
    """Put drivers in the live index at `points` ({driver id: (lat, lng)}) through the ingest script and its region
    steps, pipelined. Returns how many the script accepted."""
    from locations import live

    t = timezone.now().timestamp()
    accepted = 0
    items = list(points.items())
    for start in range(0, len(items), 5000):
        chunk = items[start : start + 5000]
        results = live.run(
            [live.Call("ingest", *live.ingest_keys_args(driver_id, lat, lng, t)) for driver_id, (lat, lng) in chunk]
        )
        live.run(
            [
                step
                for (driver_id, (lat, lng)), result in zip(chunk, results, strict=True)
                for step in live.placed_steps(driver_id, result, repr(float(lat)), repr(float(lng)), repr(t))
            ]
        )
        accepted += sum(1 for result in results if live.result_code(result) == live.ACCEPTED)
    return accepted


def synthetic_drivers(count, seed=7):
    """Driver ids that exist only in Redis (enough for nearby: the selector never reads the database)."""
    rng = random.Random(seed)
    return {str(uuid.UUID(int=rng.getrandbits(128), version=4)): random_point(rng) for _ in range(count)}
