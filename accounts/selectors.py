from collections.abc import Iterable
from typing import Any
from uuid import UUID

import jwt
from django.db.models import F, FilteredRelation, Q
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import DriverProfile, SignInSession, User
from nebengjek import redis_keys
from nebengjek.queries import one_or_none
from nebengjek.redis import get_redis_held

LEGACY_SESSION_LOOKBACK = 200  # a pre-table session's newest refresh token is among the user's newest outstanding ones


def sign_in_session_ended(*, sid: str) -> bool:
    """True when sign-in session `sid` (32 hex digits, as tokens carry it) was ended: one Redis round trip (the
    session's revoked mark and the marker saying the marks are complete). Only while the marks are incomplete, after
    a Redis flush until accounts.services.revoked_sessions_repair has run, does the database answer instead."""
    revoked, complete = get_redis_held().mget(
        redis_keys.key(redis_keys.AUTH_REVOKED_SESSION, sid=sid), redis_keys.AUTH_REVOKED_COMPLETE
    )
    if revoked is not None:
        return True
    if complete is None:
        return SignInSession.objects.filter(sid=sid, revoked_at__isnull=False).exists()
    return False


def driver_vehicle_types(*, driver_ids: Iterable[UUID | str] | None = None) -> dict[str, str]:
    """{driver id: vehicle type} of these drivers (all drivers when None)."""
    profiles = DriverProfile.objects.all()
    if driver_ids is not None:
        profiles = profiles.filter(user_id__in=list(driver_ids))
    return {str(user_id): vehicle for user_id, vehicle in profiles.values_list("user_id", "vehicle_type")}


def driver_is_verified(*, user_id: UUID | str, lock: bool = False) -> bool:
    """True when the driver's profile is verified. `lock` (in a transaction) holds the profile row until the commit,
    so an operator's un-verify (accounts.services.driver_unverify) waits and then takes the beacon off."""
    profiles = DriverProfile.objects.filter(user_id=user_id, is_verified=True)
    if lock:
        profiles = profiles.select_for_update()
    return bool(list(profiles.values_list("pk", flat=True)))


def user_get_for_output(user_id: UUID | str) -> User:
    return User.objects.select_related("driver_profile").get(pk=user_id)


def user_with_session_get(*, user_id: UUID | str, sid: str | None) -> User | None:
    """The user (None if unknown) with its sign-in session `sid` joined in, in one query (a LEFT JOIN on the
    session's key): `session_sid` and `session_revoked_at` are None when the session has no row."""
    users = User.objects.filter(pk=user_id)
    if sid:
        users = users.annotate(
            session=FilteredRelation("sign_in_sessions", condition=Q(sign_in_sessions__sid=sid)),
            session_sid=F("session__sid"),
            session_revoked_at=F("session__revoked_at"),
        )
    return one_or_none(users)


def sign_in_session_revoked(*, user: Any, sid: str) -> bool:
    """True when sign-in session `sid` was ended (logout, suspension, revoked in the admin); `user` comes from
    user_with_session_get, so a session with a row costs no further query."""
    if user.session_sid is None:
        # No row: the session signed in before accounts 0003 created the table. Scanning its refresh tokens the old
        # way keeps it signed in across the deploy instead of logging everybody out. Its next refresh gives it a row
        # (services.sign_in_session_refresh_check), so this path dies out within the refresh lifetime (7 days).
        return _legacy_session_revoked(user_id=user.pk, sid=sid)
    return user.session_revoked_at is not None


def _legacy_session_revoked(*, user_id: UUID | str, sid: str) -> bool:
    """True when the newest refresh token of session `sid` is blacklisted (O(sessions): decodes each token)."""
    rows = (
        OutstandingToken.objects.filter(user_id=user_id)
        .order_by("-created_at", "-id")
        .values_list("token", "blacklistedtoken__id")[:LEGACY_SESSION_LOOKBACK]
    )
    for token, blacklisted in rows:
        if jwt.decode(token, options={"verify_signature": False}).get("sid") == sid:
            return blacklisted is not None
    return False
