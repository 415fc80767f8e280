"""A request id that follows a request through its logs and into the Celery tasks it enqueues."""
import contextvars
import logging
import uuid

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware

request_id_var = contextvars.ContextVar("request_id", default="")


def current_request_id():
    return request_id_var.get()


REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"


def _request_id_set(request):
    return request_id_var.set(request.META.get(REQUEST_ID_HEADER, "")[:64] or uuid.uuid4().hex)


@sync_and_async_middleware
def RequestIdMiddleware(get_response):  # noqa: N802  (named as a middleware class in settings)
    """Sync and async, so that under ASGI it does not force the chain into a thread of its own (with a sync-only
    middleware Django hops event loop → thread → event loop → thread for the view)."""
    if iscoroutinefunction(get_response):
        async def middleware(request):
            token = _request_id_set(request)
            try:
                response = await get_response(request)
                response["X-Request-ID"] = request_id_var.get()
                return response
            finally:
                request_id_var.reset(token)
    else:
        def middleware(request):
            token = _request_id_set(request)
            try:
                response = get_response(request)
                response["X-Request-ID"] = request_id_var.get()
                return response
            finally:
                request_id_var.reset(token)
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
