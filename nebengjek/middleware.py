"""A request id that follows a request through its logs and into the Celery tasks it enqueues."""
import contextvars
import logging
import uuid

request_id_var = contextvars.ContextVar("request_id", default="")


def current_request_id():
    return request_id_var.get()


REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"


def RequestIdMiddleware(get_response):  # noqa: N802  (named as a middleware class in settings)
    """The request's id (its X-Request-ID, else a new one) in request_id_var while it runs, and on the response."""
    def middleware(request):
        token = request_id_var.set(request.META.get(REQUEST_ID_HEADER, "")[:64] or uuid.uuid4().hex)
        try:
            response = get_response(request)
            response["X-Request-ID"] = request_id_var.get()
            return response
        finally:
            request_id_var.reset(token)

    return middleware


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True
