"""One error shape for every REST failure: {"error": {"code", "message", "details"}} (../shared/API.md)."""

import logging
from typing import Any

import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DatabaseConnectionClosed
from django.db import OperationalError as DatabaseUnavailable
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from nebengjek.errors import CommonError, DomainError, ErrorCode

logger = logging.getLogger(__name__)

_DRF_CODES = [
    (drf.ParseError, CommonError.MALFORMED_JSON),
    (drf.NotAuthenticated, CommonError.NOT_AUTHENTICATED),
    (drf.AuthenticationFailed, CommonError.TOKEN_NOT_VALID),
    (drf.PermissionDenied, CommonError.PERMISSION_DENIED),
    (drf.NotFound, CommonError.NOT_FOUND),
    (drf.MethodNotAllowed, CommonError.METHOD_NOT_ALLOWED),
    (drf.UnsupportedMediaType, CommonError.UNSUPPORTED_MEDIA_TYPE),
    (drf.Throttled, CommonError.THROTTLED),
]


# simplejwt's token errors, said so that a person knows what to do: expired (refresh it) vs not valid vs revoked.
TOKEN_MESSAGES = {
    ("access", "expired"): "The access token has expired; get a new one with POST /api/v1/auth/token/refresh.",
    ("access", "invalid"): "The access token is not valid (malformed, not an access token, or not ours); "
    "sign in again.",
    ("access", "revoked"): "This sign-in session has ended; sign in again.",
    ("refresh", "expired"): "The refresh token has expired; sign in again.",
    ("refresh", "invalid"): "The refresh token is not valid (malformed, not a refresh token, or not ours); "
    "sign in again.",
    ("refresh", "revoked"): "This refresh token was already used or signed out; sign in again.",
}


def token_error_reason(text: str) -> str:
    """'expired', 'revoked' or 'invalid' from a simplejwt message ("Token is expired", "Token is blacklisted"...)."""
    text = str(text).lower()
    if "is expired" in text or "has expired" in text:
        return "expired"
    if "blacklisted" in text:
        return "revoked"
    return "invalid"


def token_error(kind: str, text: str) -> DomainError:
    """The token_not_valid error for a simplejwt failure of an `access` or `refresh` token."""
    reason = token_error_reason(text)
    message = TOKEN_MESSAGES.get((kind, reason), TOKEN_MESSAGES[(kind, "invalid")])
    return DomainError(CommonError.TOKEN_NOT_VALID, message, details={"token": kind, "reason": reason})


def _simplejwt_error(exc: drf.AuthenticationFailed, context: dict[str, Any]) -> DomainError | None:
    """simplejwt's InvalidToken carries {"detail", "code", "messages"?}: rendered as is it read
    "detail: Given token not valid for any token type". None for an AuthenticationFailed that is not about a token."""
    from rest_framework_simplejwt.exceptions import InvalidToken
    from rest_framework_simplejwt.views import TokenRefreshView

    if not isinstance(exc, InvalidToken):
        return None
    detail = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
    texts = [str(item.get("message", "")) for item in detail.get("messages", []) if isinstance(item, dict)]
    texts.append(str(detail.get("detail", "")))
    reason_text = next((text for text in texts if token_error_reason(text) != "invalid"), texts[0])
    kind = "refresh" if isinstance(context.get("view"), TokenRefreshView) else "access"
    error = token_error(kind, reason_text)
    if getattr(exc, "auth_header", None):
        error.headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]  # set by DRF's views
    return error


def error_body(code: ErrorCode | str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    code = getattr(code, "value", code)
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _flatten_messages(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten_messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_messages(item) for item in detail]
    return str(detail)


def _first_problem(details: Any, prefix: str = "") -> str:
    """'pickup.lat: This field is required.' — the first offending field, named in the message."""
    if isinstance(details, dict):
        for key, value in details.items():
            name = key if key == "non_field_errors" else f"{prefix}{key}"
            return _first_problem(value, f"{name}.") if isinstance(value, dict) else f"{name}: {_first_problem(value)}"
    if isinstance(details, list) and details:
        return _first_problem(details[0], prefix)
    return str(details)


def _validation_error_response(exc: drf.ValidationError) -> Response:
    details = _flatten_messages(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
    code = _custom_validation_code(exc)
    return Response(error_body(code or CommonError.INVALID_INPUT, _first_problem(details), details), status=400)


def _custom_validation_code(exc: drf.ValidationError) -> str | None:
    """A serializer may raise ValidationError(code="invalid_msisdn"); surface it as the error's code when it is a
    catalogue code (DRF's own codes such as "null_characters_not_allowed" stay invalid_input)."""
    from nebengjek.error_catalogue import catalogue_codes

    codes = exc.get_codes()
    flat = []
    stack = [codes]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            flat.append(item)
    known = catalogue_codes()
    custom = [code for code in flat if code in known and code != CommonError.INVALID_INPUT]
    return custom[0] if len(custom) == 1 else None


def backing_service_down(exc: BaseException) -> bool:
    """Redis (cache, throttles, geo, channel layer) or the broker unreachable, or the database's OperationalError
    (connection lost or refused, the server's connection pool exhausted under overload, a deadlock or lock timeout
    rolled back) or InterfaceError (its connection already closed): the request may be retried later."""
    from kombu.exceptions import OperationalError as BrokerUnreachable

    return isinstance(
        exc,
        (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            BrokerUnreachable,
            DatabaseUnavailable,
            DatabaseConnectionClosed,
        ),
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if backing_service_down(exc):
        set_rollback()
        logger.warning("backing service unavailable: %s", exc, exc_info=isinstance(exc, DatabaseUnavailable))
        down = CommonError.SERVICE_UNAVAILABLE
        return Response(error_body(down, down.default_message), status=down.status, headers={"Retry-After": "5"})
    if isinstance(exc, drf.AuthenticationFailed):
        exc = _simplejwt_error(exc, context) or exc
    if isinstance(exc, DomainError):
        set_rollback()
        response = Response({"error": exc.as_dict()}, status=exc.status, headers=exc.headers)
        if getattr(exc, "already_logged", False):  # said once by its raiser: not an ERROR line per refused request
            response._has_been_logged = True  # type: ignore[attr-defined]  # Django's log_response reads it
        return response
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        set_rollback()
        return _validation_error_response(exc)
    if not isinstance(exc, drf.APIException):
        return None  # a bug: Django's handler500 answers in the same shape
    set_rollback()
    code = next((code for cls, code in _DRF_CODES if isinstance(exc, cls)), exc.default_code)
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]  # set by DRF's views
    if isinstance(exc, drf.Throttled) and exc.wait is not None:  # type: ignore[attr-defined]  # not in the stubs
        headers["Retry-After"] = str(int(exc.wait) + 1)  # type: ignore[attr-defined]
    return Response(error_body(code, _api_exception_message(exc)), status=exc.status_code, headers=headers)


def _api_exception_message(exc: drf.APIException) -> str:
    """DRF's message; a {"detail": ...} dict (simplejwt's) gives its detail, never "detail: ..."."""
    if isinstance(exc.detail, dict) and "detail" in exc.detail:
        return str(exc.detail["detail"])
    return str(exc.detail if isinstance(exc.detail, str) else _first_problem(_flatten_messages(exc.detail)))


@csrf_exempt  # an unknown API path is a JSON 404 for every method, never the CSRF failure page of a POST
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception)
    return JsonResponse(
        error_body(CommonError.NOT_FOUND, f"No resource at {request.path}."), status=CommonError.NOT_FOUND.status
    )


def json_server_error(request: HttpRequest) -> HttpResponse:
    logger.error("unhandled server error", extra={"path": request.path})
    return JsonResponse(
        error_body(CommonError.SERVER_ERROR, CommonError.SERVER_ERROR.default_message),
        status=CommonError.SERVER_ERROR.status,
    )
