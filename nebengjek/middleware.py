"""A request id that follows a request through its logs and into the Celery tasks it enqueues."""
import contextvars
import logging
import uuid
from contextlib import contextmanager

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware

request_id_var = contextvars.ContextVar("request_id", default="")


def current_request_id():
    return request_id_var.get()


REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"


@contextmanager
def _request_id_for(request):
    """The request's id (its X-Request-ID, else a new one) in request_id_var while the block runs."""
    token = request_id_var.set(request.META.get(REQUEST_ID_HEADER, "")[:64] or uuid.uuid4().hex)
    try:
        yield
    finally:
        request_id_var.reset(token)


def _stamped(response):
    response["X-Request-ID"] = request_id_var.get()
    return response


@sync_and_async_middleware
def RequestIdMiddleware(get_response):  # noqa: N802  (named as a middleware class in settings)
    """Sync and async, so that under ASGI it does not force the chain into a thread of its own (with a sync-only
    middleware Django hops event loop → thread → event loop → thread for the view)."""
    if iscoroutinefunction(get_response):
        async def middleware(request):
            with _request_id_for(request):
                return _stamped(await get_response(request))
    else:
        def middleware(request):
            with _request_id_for(request):
                return _stamped(get_response(request))
    return middleware


@sync_and_async_middleware
def StaticFilesMiddleware(get_response):  # noqa: N802
    """WhiteNoise (sync only) made async-capable: a static file is served by WhiteNoise in a thread, anything else
    passes straight through on the event loop."""
    whitenoise = WhiteNoiseMiddleware(get_response)
    if not iscoroutinefunction(get_response):
        return whitenoise

    async def middleware(request):
        if whitenoise.autorefresh:  # DEBUG: looked up on disk
            static_file = await sync_to_async(whitenoise.find_file)(request.path_info)
        else:
            static_file = whitenoise.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(whitenoise.serve)(static_file, request)
        return await get_response(request)

    return middleware


class RequestIdLogFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True
