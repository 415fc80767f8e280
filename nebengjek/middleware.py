"""A request id that follows a request through its logs and into the Celery tasks it enqueues."""
import contextvars
import logging
import uuid

request_id_var = contextvars.ContextVar("request_id", default="")


def current_request_id():
    return request_id_var.get()


class RequestIdMiddleware:
    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get(self.header, "")[:64]
        request.request_id = incoming or uuid.uuid4().hex
        token = request_id_var.set(request.request_id)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        # django.request logs a 4xx/5xx after the middleware has returned: its record carries the request itself.
        record.request_id = request_id_var.get() or getattr(getattr(record, "request", None), "request_id", "")
        return True
