"""REST authentication: simplejwt's access token, refused the moment its sign-in session ends."""

import redis
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.errors import SESSION_ENDED_MESSAGE
from accounts.selectors import sign_in_session_ended
from nebengjek.errors import CommonError, DomainError
from nebengjek.middleware import bind_user_id


class SessionJWTAuthentication(JWTAuthentication):
    """simplejwt's JWTAuthentication that also refuses a token whose sign-in session (`sid`) was ended by logout,
    suspension or an operator. The session is read in Redis before the user is loaded: one round trip, and a token
    of an ended session is refused without a database query."""

    def get_user(self, validated_token):
        sid = validated_token.get("sid")
        if sid:
            try:
                ended = sign_in_session_ended(sid=sid)
            except redis.RedisError as exc:  # never let a token through unchecked
                raise DomainError(
                    CommonError.SERVICE_UNAVAILABLE,
                    "Temporarily unavailable, retry shortly.",
                    headers={"Retry-After": "5"},
                ) from exc
            if ended:
                raise AuthenticationFailed(SESSION_ENDED_MESSAGE, code="token_not_valid")
        user = super().get_user(validated_token)
        bind_user_id(user.pk)  # the request's log lines carry who made it
        return user


class SessionJWTScheme(SimpleJWTScheme):
    """The OpenAPI schema's bearer scheme for it, as drf-spectacular describes simplejwt's."""

    target_class = "accounts.authentication.SessionJWTAuthentication"
