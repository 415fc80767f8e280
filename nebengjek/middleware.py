"""A request id that follows a request through its logs and into the Celery tasks it enqueues; the trace and user
ids beside it on every JSON log line; tokens, OTP codes and full phone numbers kept out of those lines."""

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter

from nebengjek import tracing

request_id_var = contextvars.ContextVar("request_id", default="")
user_id_var = contextvars.ContextVar("log_user_id", default="")


def current_request_id():
    return request_id_var.get()


def bind_user_id(user_id) -> None:
    """The signed-in user of the current request, socket or task: every log line it writes carries the id."""
    user_id_var.set(str(user_id) if user_id is not None else "")


class RequestIdMiddleware:
    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(self.header, "")[:64]
        request.request_id = incoming or uuid.uuid4().hex
        request.log_trace_ids = tracing.log_ids()  # django.request logs after the trace's span has ended
        token = request_id_var.set(request.request_id)
        user_token = user_id_var.set("")
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request.log_user_id = user_id_var.get()
            user_id_var.reset(user_token)
            request_id_var.reset(token)


class RequestIdLogFilter(logging.Filter):
    """request_id, trace_id, span_id and user_id on every record (empty strings where unknown)."""

    def filter(self, record):
        # django.request logs a 4xx/5xx after the middleware has returned: its record carries the request itself.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        trace_id, span_id = tracing.log_ids()
        if not trace_id:
            trace_id, span_id = getattr(request, "log_trace_ids", ("", ""))
        record.trace_id, record.span_id = trace_id, span_id
        if not getattr(record, "user_id", None):
            # A record about a finished request names that request's user, whatever the context holds after it.
            record.user_id = getattr(request, "log_user_id", None)
            if record.user_id is None:
                record.user_id = user_id_var.get()
        return True


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?i)\b(bearer|token=)\s*[A-Za-z0-9._~+/=-]{8,}")
# Indonesian mobile numbers (+62 8…, 62 8…, 08…): the prefix and the last three digits stay, the middle is masked.
_MSISDN = re.compile(r"(?<![\w.-])(\+62|62|0)(8\d{2})(\d{4,9})(\d{3})(?![\w.])")
_OTP_FIELD = re.compile(r'("(?:otp|code|otp_code|password)"\s*:\s*)"?\d{4,8}"?', re.IGNORECASE)


def _mask_msisdn(match: re.Match) -> str:
    return f"{match[1]}{match[2]}{'*' * len(match[3])}{match[4]}"


def redact(text: str) -> str:
    """The log line without tokens, OTP codes in fields, or full phone numbers."""
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(lambda match: f"{match[1]} [token]", text)
    text = _OTP_FIELD.sub(r'\1"[code]"', text)
    return _MSISDN.sub(_mask_msisdn, text)


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter, the finished line passed through `redact`."""

    def format(self, record):
        return redact(super().format(record))
