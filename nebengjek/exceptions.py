"""One error shape for every REST failure: {"error": {"code", "message", "details"}} (../shared/API.md)."""
import logging

import redis
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError as DatabaseConnectionClosed
from django.db import OperationalError as DatabaseUnavailable
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from nebengjek.errors import CommonError, DomainError

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


def error_body(code, message, details=None):
    code = getattr(code, "value", code)
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _flatten_messages(detail):
    if isinstance(detail, dict):
        return {key: _flatten_messages(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_messages(item) for item in detail]
    return str(detail)


def _first_problem(details, prefix=""):
    """'pickup.lat: This field is required.' — the first offending field, named in the message."""
    if isinstance(details, dict):
        for key, value in details.items():
            name = key if key == "non_field_errors" else f"{prefix}{key}"
            return _first_problem(value, f"{name}.") if isinstance(value, dict) else f"{name}: {_first_problem(value)}"
    if isinstance(details, list) and details:
        return _first_problem(details[0], prefix)
    return str(details)


def _validation_error_response(exc):
    details = _flatten_messages(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
    code = _custom_validation_code(exc)
    return Response(error_body(code or CommonError.INVALID_INPUT, _first_problem(details), details), status=400)


def _custom_validation_code(exc):
    """A serializer may raise ValidationError(code="invalid_msisdn"); surface it as the error's code."""
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
    custom = [code for code in flat if code not in _BUILTIN_VALIDATION_CODES]
    return custom[0] if len(custom) == 1 else None


_BUILTIN_VALIDATION_CODES = {
    "invalid", "required", "null", "blank", "max_length", "min_length", "max_value", "min_value",
    "invalid_choice", "not_a_list", "empty", "max_digits", "max_decimal_places", "max_whole_digits",
    "max_string_length", "not_a_dict", "date", "datetime", "make_aware", "overflow", "does_not_exist",
    "incorrect_type", "no_match", "unique", "parse_error",
}


def backing_service_down(exc: BaseException) -> bool:
    """Redis (cache, throttles, geo, channel layer) or the broker unreachable, or the database's OperationalError
    (connection lost or refused, the server's connection pool exhausted under overload, a deadlock or lock timeout
    rolled back) or InterfaceError (its connection already closed): the request may be retried later."""
    from kombu.exceptions import OperationalError as BrokerUnreachable

    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, BrokerUnreachable,
                            DatabaseUnavailable, DatabaseConnectionClosed))


def api_exception_handler(exc, context):
    if backing_service_down(exc):
        set_rollback()
        logger.warning("backing service unavailable: %s", exc, exc_info=isinstance(exc, DatabaseUnavailable))
        return Response(error_body(CommonError.SERVICE_UNAVAILABLE, "Temporarily unavailable, retry shortly."),
                        status=503, headers={"Retry-After": "5"})
    if isinstance(exc, DomainError):
        set_rollback()
        return Response({"error": exc.as_dict()}, status=exc.status, headers=exc.headers)
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
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait) + 1)
    message = exc.detail if isinstance(exc.detail, str) else _first_problem(_flatten_messages(exc.detail))
    return Response(error_body(code, str(message)), status=exc.status_code, headers=headers)


def json_not_found(request, exception=None):
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception)
    return JsonResponse(error_body(CommonError.NOT_FOUND, f"No resource at {request.path}."), status=404)


def json_server_error(request):
    logger.error("unhandled server error", extra={"path": request.path})
    return JsonResponse(error_body(CommonError.SERVER_ERROR, "Internal server error."), status=500)
