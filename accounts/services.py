"""Sign-in by OTP, tokens, profile and driver registration."""

import hashlib
import hmac
import logging
import math
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.errors import SESSION_ENDED_MESSAGE, AccountsError, AccountsException
from accounts.models import DriverProfile, OtpChallenge, Role, SignInSession, User
from accounts.msisdn import INVALID_MSISDN_HINT, normalize_msisdn
from accounts.sms import get_sms_backend
from nebengjek import redis_keys
from nebengjek.errors import CommonError, DomainError
from nebengjek.exceptions import token_error
from nebengjek.realtime import close_sessions_on_commit
from nebengjek.redis import get_rate_redis, get_redis
from nebengjek.throttling import fixed_windows_hit

logger = logging.getLogger(__name__)

PLATE_PATTERN = re.compile(r"^([A-Z]{1,2}) ?(\d{1,4}) ?([A-Z]{0,3})$")
SESSION_PRUNE_CHUNK = 1000  # rows per DELETE of sessions_prune
OTP_SMS_RETRY_AFTER_SECONDS = 30  # Retry-After of the 503 when the SMS gateway failed


def msisdn_parse(raw: Any) -> str:
    msisdn = normalize_msisdn(raw)
    if msisdn is None:
        raise AccountsException(AccountsError.INVALID_MSISDN, details={"msisdn": [INVALID_MSISDN_HINT]})
    return msisdn


def _otp_hash(challenge_id: uuid.UUID | str, code: str) -> str:
    message = f"{challenge_id}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _otp_send_windows(*, msisdn: str, ip: str | None) -> list[tuple[str, int, int]]:
    """The send counters this request counts in: (key, TTL, cap) per number, per number per day, per client IP."""
    windows = [
        (
            redis_keys.key(redis_keys.OTP_SENDS_WINDOW, msisdn=msisdn),
            settings.OTP_SEND_WINDOW_SECONDS,
            settings.OTP_SENDS_PER_WINDOW,
        ),
        (
            redis_keys.key(redis_keys.OTP_SENDS_DAY, msisdn=msisdn),
            redis_keys.OTP_SENDS_DAY_TTL,
            settings.OTP_SENDS_PER_DAY,
        ),
    ]
    if ip:
        windows.append(
            (
                redis_keys.key(redis_keys.OTP_SENDS_IP, ip=ip),
                redis_keys.OTP_SENDS_IP_TTL,
                settings.OTP_SENDS_PER_IP_PER_HOUR,
            )
        )
    return windows


def _count_otp_send(windows: list[tuple[str, int, int]]) -> int:
    """Count this send in every window atomically; return seconds to wait when any cap is exceeded, else 0."""
    try:
        return fixed_windows_hit(windows) or 0
    except redis.RedisError as exc:
        raise DomainError(CommonError.SERVICE_UNAVAILABLE, "Sign-in is briefly unavailable, try again.") from exc


# Gives back one counted send in each window whose counter still lives (one that expired meanwhile stays gone).
_UNCOUNT_OTP_SEND_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0
"""


def _uncount_otp_send(windows: list[tuple[str, int, int]]) -> None:
    try:
        get_rate_redis().eval(_UNCOUNT_OTP_SEND_LUA, len(windows), *[key for key, _, _ in windows])
    except redis.RedisError:
        logger.warning("OTP send counters not given back after a failed send", exc_info=True)


def otp_request(*, raw_msisdn: Any, ip: str | None = None) -> tuple[str, int]:
    """Send a fresh code to the number (known or not: the answer is the same). Returns (msisdn, expires_in)."""
    msisdn = msisdn_parse(raw_msisdn)
    windows = _otp_send_windows(msisdn=msisdn, ip=ip)
    wait = _count_otp_send(windows)
    if wait:
        raise AccountsException(
            AccountsError.OTP_RATE_LIMITED, details={"retry_after": wait}, headers={"Retry-After": str(wait)}
        )
    code = f"{secrets.randbelow(10**6):06d}"
    now = timezone.now()
    with transaction.atomic():
        OtpChallenge.objects.filter(msisdn=msisdn, consumed_at__isnull=True, superseded=False).update(superseded=True)
        challenge_id = uuid.uuid4()
        OtpChallenge.objects.create(
            id=challenge_id,
            msisdn=msisdn,
            code_hash=_otp_hash(challenge_id, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.OTP_TTL_SECONDS),
            requested_ip=ip,
        )
        transaction.on_commit(
            partial(_otp_deliver, challenge_id=challenge_id, msisdn=msisdn, code=code, windows=windows)
        )
    return msisdn, settings.OTP_TTL_SECONDS


def _otp_deliver(*, challenge_id: uuid.UUID, msisdn: str, code: str, windows: list[tuple[str, int, int]]) -> None:
    """Send the code (after the commit). When the gateway fails, the send is given back to the caps and the
    undelivered code retired, then 503: the client retries without having used up its sends."""
    backend = get_sms_backend()  # outside the try: a misconfigured SMS_BACKEND is a bug, not an outage
    try:
        backend.send(msisdn=msisdn, text=f"Your NebengJek code is {code}")
    except Exception as exc:  # the gateway is the outside world: whatever it raises means "not sent"
        logger.warning("SMS gateway failed; the OTP send is not counted", exc_info=True)
        _uncount_otp_send(windows)
        OtpChallenge.objects.filter(id=challenge_id).update(superseded=True)
        raise DomainError(
            CommonError.SERVICE_UNAVAILABLE,
            "The code could not be sent; try again shortly.",
            headers={"Retry-After": str(OTP_SMS_RETRY_AFTER_SECONDS)},
        ) from exc


def _otp_check(*, msisdn: str, code: str) -> AccountsException | None:
    """Consume the number's live challenge if `code` matches; count a wrong try otherwise. Returns an error or None.

    Runs in its own transaction so that a wrong try is counted even though the caller then fails.
    """
    with transaction.atomic():
        challenge = (
            OtpChallenge.objects.select_for_update()
            .filter(msisdn=msisdn, consumed_at__isnull=True, superseded=False)
            .order_by("-created_at")
            .first()
        )
        if challenge is None:
            return AccountsException(AccountsError.INVALID_OTP)
        if challenge.wrong_attempts >= settings.OTP_MAX_WRONG_ATTEMPTS:
            return AccountsException(AccountsError.OTP_LOCKED)
        if challenge.expires_at <= timezone.now():
            return AccountsException(AccountsError.OTP_EXPIRED)
        if not (isinstance(code, str) and hmac.compare_digest(challenge.code_hash, _otp_hash(challenge.id, code))):
            challenge.wrong_attempts += 1
            challenge.save(update_fields=["wrong_attempts"])
            if challenge.wrong_attempts >= settings.OTP_MAX_WRONG_ATTEMPTS:
                return AccountsException(AccountsError.OTP_LOCKED)
            return AccountsException(
                AccountsError.INVALID_OTP,
                details={"attempts_left": settings.OTP_MAX_WRONG_ATTEMPTS - challenge.wrong_attempts},
            )
        challenge.consumed_at = timezone.now()
        challenge.save(update_fields=["consumed_at"])
        return None


def otp_verify(*, raw_msisdn: Any, code: str) -> tuple[User, dict[str, str], bool]:
    """Check the code, create the user on first sign-in; returns (user, tokens, is_new_user)."""
    msisdn = msisdn_parse(raw_msisdn)
    error = _otp_check(msisdn=msisdn, code=code)
    if error is not None:
        raise error
    user, is_new_user = _user_get_or_create(msisdn=msisdn)
    if not user.is_active:
        raise AccountsException(AccountsError.USER_SUSPENDED)
    return user, tokens_issue(user=user), is_new_user


def _user_get_or_create(*, msisdn: str) -> tuple[User, bool]:
    try:
        with transaction.atomic():
            return User.objects.get_or_create(msisdn=msisdn, defaults={"role": Role.PASSENGER})
    except IntegrityError:  # a concurrent first sign-in created it
        return User.objects.get(msisdn=msisdn), False


def tokens_issue(*, user: User) -> dict[str, str]:
    """A new sign-in session: its row, and refresh + access tokens sharing its id (`sid`) that survives rotation."""
    with transaction.atomic():
        session = SignInSession.objects.create(sid=uuid.uuid4(), user=user)
        refresh = RefreshToken.for_user(user)
        refresh["sid"] = session.sid.hex
        # for_user() recorded the token before it had a sid; record the one we hand out.
        OutstandingToken.objects.filter(jti=refresh["jti"]).update(token=str(refresh))
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def auth_logout(*, refresh: str) -> None:
    """Blacklist the refresh token, revoke its sign-in session and close that session's sockets."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt's hint says Token; it decodes a str
    except TokenError as exc:
        raise token_error("refresh", str(exc)) from exc
    user_id = token.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    sid = token.payload.get("sid")
    with transaction.atomic():
        token.blacklist()
        if sid:  # a session from before the session table has no row: the handshake's fallback sees the blacklist
            _sessions_revoke(SignInSession.objects.filter(sid=sid), also_sids=[sid])
        if user_id:
            close_sessions_on_commit(user_id, sid=sid)


def sign_in_session_revoke(*, session: SignInSession) -> SignInSession:
    """End one sign-in session without its refresh token: that token is refused from now on (refresh checks the
    session, so it need not be blacklisted), new sockets are refused and the session's open sockets close."""
    with transaction.atomic():
        _sessions_revoke(SignInSession.objects.filter(sid=session.sid))
        close_sessions_on_commit(session.user_id, sid=session.sid.hex)  # as the tokens carry it
    session.refresh_from_db(fields=["revoked_at"])
    return session


def sign_in_session_refresh_check(*, user_id: uuid.UUID | str, sid: str) -> None:
    """Before a refresh token of session `sid` rotates: refuse it when the session is revoked (e.g. a refresh that
    raced its logout escaped the blacklist); else note the refresh (`refreshed_at`: sessions_prune keeps the session
    while its new tokens live). A session signed in before this table existed gets its row now, so that the
    handshake's fallback scan (accounts.selectors.sign_in_session_revoked) dies out with the old tokens."""
    now = timezone.now()
    if SignInSession.objects.filter(sid=sid, revoked_at__isnull=True).update(refreshed_at=now):
        return
    session, _ = SignInSession.objects.get_or_create(sid=sid, defaults={"user_id": user_id, "refreshed_at": now})
    if session.revoked_at is not None:  # (a row made by a concurrent refresh of the same legacy session is live)
        raise DomainError(CommonError.TOKEN_NOT_VALID, SESSION_ENDED_MESSAGE)


def sessions_prune(*, limit: int = SESSION_PRUNE_CHUNK * 20) -> dict[str, int]:
    """Delete what no token can use any more: outstanding refresh tokens past their expiry (their blacklist entries
    go with them, as simplejwt's flushexpiredtokens does) and sign-in sessions whose last token, issued at sign-in or
    at the last refresh, has expired. At most `limit` rows of each per call, in chunks; returns the counts."""
    now = timezone.now()
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] + settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    tokens = OutstandingToken.objects.filter(expires_at__lte=now)
    sessions = SignInSession.objects.filter(
        Q(refreshed_at__lte=now - lifetime) | Q(refreshed_at__isnull=True, created_at__lte=now - lifetime)
    )
    return {"tokens": _delete_in_chunks(tokens, limit=limit), "sessions": _delete_in_chunks(sessions, limit=limit)}


def _delete_in_chunks(queryset: QuerySet[Any], *, limit: int) -> int:
    deleted = 0
    while deleted < limit:
        ids = list(queryset.values_list("pk", flat=True)[: min(SESSION_PRUNE_CHUNK, limit - deleted)])
        if not ids:
            break
        queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted


def _sessions_revoke(sessions: QuerySet[SignInSession], *, also_sids: Iterable[str] = ()) -> int:
    """Mark the live ones of `sessions` (a SignInSession queryset) revoked, now, and mark them (and `also_sids`, as
    tokens carry them) in Redis' revoked sessions, which the REST authentication reads. Call it in a transaction:
    the Redis write comes before the commit, so a Redis error rolls the revocation back (the caller fails, 503 over
    REST) rather than leaving a revocation the authentication cannot see."""
    sids = list(sessions.select_for_update().filter(revoked_at__isnull=True).values_list("sid", flat=True))
    if sids:
        SignInSession.objects.filter(sid__in=sids).update(revoked_at=timezone.now())
    _revoked_sessions_mark({sid.hex for sid in sids} | set(also_sids))
    return len(sids)


def _revoked_session_ttl_seconds() -> int:
    """How long a revoked mark must live: until the last access token of the session has expired."""
    leeway = api_settings.LEEWAY
    leeway_s = leeway.total_seconds() if isinstance(leeway, timedelta) else leeway
    return math.ceil(api_settings.ACCESS_TOKEN_LIFETIME.total_seconds() + leeway_s)


def _revoked_sessions_mark(sids: set[str], *, ttls: dict[str, int] | None = None) -> None:
    if not sids:
        return
    ttl = _revoked_session_ttl_seconds()
    pipe = get_redis().pipeline(transaction=False)
    for sid in sids:
        pipe.set(redis_keys.key(redis_keys.AUTH_REVOKED_SESSION, sid=sid), "1", ex=(ttls or {}).get(sid, ttl))
    pipe.execute()


def revoked_sessions_repair() -> int:
    """Beat (with the live sweeper's period): when Redis' revoked sessions are not known complete (flushed, or a new
    Redis), put back every session revoked within the last access lifetime with what is left of its TTL, then the
    completeness marker; until then the REST authentication asks the database. Returns how many were put back."""
    client = get_redis()
    if client.exists(redis_keys.AUTH_REVOKED_COMPLETE):
        return 0
    now = timezone.now()
    ttl = _revoked_session_ttl_seconds()
    revoked = dict(
        SignInSession.objects.filter(revoked_at__gt=now - timedelta(seconds=ttl)).values_list("sid", "revoked_at")
    )
    left = {
        sid.hex: max(1, math.ceil(ttl - (now - revoked_at).total_seconds()))  # type: ignore[operator]  # not NULL
        for sid, revoked_at in revoked.items()
    }
    _revoked_sessions_mark(set(left), ttls=left)
    client.set(redis_keys.AUTH_REVOKED_COMPLETE, now.isoformat())
    if left:
        logger.info("revoked sessions restored in Redis", extra={"sessions": len(left)})
    return len(left)


def user_update(*, user: User, full_name: str) -> User:
    user.full_name = full_name.strip()
    user.save(update_fields=["full_name"])
    return user


def vehicle_plate_normalize(raw: str) -> str:
    plate = re.sub(r"\s+", " ", str(raw).strip().upper())
    match = PLATE_PATTERN.match(plate)
    if not match:
        raise AccountsException(
            AccountsError.INVALID_VEHICLE_PLATE, details={"vehicle_plate": ["Use a plate like 'B 1234 XYZ'."]}
        )
    return " ".join(part for part in match.groups() if part)


def driver_cancellation_count(*, driver_id: uuid.UUID | str) -> None:
    """A driver backed out of a confirmed ride (matching.services.request_back_to_dispatch): one more on the
    profile (the ranking reads the recent ones from the matches)."""
    DriverProfile.objects.filter(user_id=driver_id).update(
        cancellations_after_accept=F("cancellations_after_accept") + 1
    )


def driver_register(*, user: User, vehicle_type: str, vehicle_plate: str) -> User:
    """Make the user a driver with this vehicle; verified at once when settings.DRIVER_AUTO_VERIFY (development),
    else an operator verifies the driver in the admin before the beacon may go on."""
    plate = vehicle_plate_normalize(vehicle_plate)
    verified_at = timezone.now() if settings.DRIVER_AUTO_VERIFY else None
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if hasattr(user, "driver_profile"):
            raise AccountsException(AccountsError.ALREADY_DRIVER)
        try:
            with transaction.atomic():
                DriverProfile.objects.create(
                    user=user,
                    vehicle_type=vehicle_type,
                    vehicle_plate=plate,
                    is_verified=verified_at is not None,
                    verified_at=verified_at,
                )
        except IntegrityError as exc:
            raise AccountsException(AccountsError.VEHICLE_PLATE_TAKEN) from exc
        user.role = Role.DRIVER
        user.save(update_fields=["role"])
    return user


def driver_verify(*, profile: DriverProfile) -> DriverProfile:
    profile.is_verified = True
    profile.verified_at = timezone.now()
    profile.save(update_fields=["is_verified", "verified_at"])
    return profile


def driver_unverify(*, profile: DriverProfile) -> DriverProfile:
    """Withdraw a driver's verification: the beacon goes off (out of the live index at once) and stays refused, and
    dispatch proposes the driver nothing, until an operator verifies the driver again."""
    with transaction.atomic():
        DriverProfile.objects.filter(pk=profile.pk).update(is_verified=False, verified_at=None)
        _driver_take_offline(profile.user)
    profile.refresh_from_db(fields=["is_verified", "verified_at"])
    return profile


def _driver_take_offline(user: User) -> None:
    """Switch a driver's beacon off (the live index drops the driver after the commit); a no-op when it is off."""
    from locations.selectors import driver_beacon_on
    from locations.services import beacon_set

    if user.is_driver and driver_beacon_on(driver_id=user.pk):
        beacon_set(user=user, active=False)


def user_suspend(*, user: User) -> User:
    """Suspend: tokens stop working (inactive user), refresh tokens are blacklisted, sessions revoked, sockets close;
    a driver's beacon goes off (out of the live index at once; dispatch refuses inactive drivers anyway)."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        # Reinstating does not bring the sessions back: the user signs in again.
        _sessions_revoke(SignInSession.objects.filter(user=user))
        outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
        )
        close_sessions_on_commit(user.id)
        transaction.on_commit(lambda: _suspended_mirror(user_id=user.id, suspended=True))
        _driver_take_offline(user)  # after the close above: its beacon.updated push is for the replay at sign-in
    return user


def user_reinstate(*, user: User) -> User:
    with transaction.atomic():
        user.is_active = True
        user.save(update_fields=["is_active"])
        transaction.on_commit(lambda: _suspended_mirror(user_id=user.id, suspended=False))
    return user


def _suspended_mirror(*, user_id: uuid.UUID | str, suspended: bool) -> None:
    """Mirror a suspension in Redis (read by the fast nearby path, gateway.nearby); the live sweeper repairs it."""
    try:
        if suspended:
            get_redis().sadd(redis_keys.USERS_SUSPENDED, str(user_id))
        else:
            get_redis().srem(redis_keys.USERS_SUSPENDED, str(user_id))
    except redis.RedisError:
        logger.warning("suspended-users mirror not updated (the live sweeper repairs it)", exc_info=True)


def user_rating_lock(*, user_id: uuid.UUID | str) -> int:
    """Lock a rated user's row (in the caller's transaction) and return the all-time rating count, so ratings of one
    user are numbered in order. FOR NO KEY UPDATE: it does not conflict with the KEY SHARE locks a rating's foreign
    keys take, so two people rating each other at once cannot deadlock."""
    return User.objects.select_for_update(no_key=True).values_list("rating_count", flat=True).get(pk=user_id)


def user_rating_set(*, user_id: uuid.UUID | str, average: Decimal | None, count: int) -> None:
    """Store a user's rating aggregate (rides computes it from its ratings, the user's row locked by
    user_rating_lock)."""
    User.objects.filter(pk=user_id).update(rating_average=average, rating_count=count)
