"""Share my trip over HTTP (rides/share.py): the passenger's links, and the public page with its JSON.

The public page polls its JSON every LIVE_TRIP_PUSH_INTERVAL_SECONDS rather than holding a socket: a watcher has no
account, so a socket would need a second, token-in-URL authentication path on the user socket; a small GET is
stateless, costs one indexed row and one Redis read, and positions change no faster than that interval anyway.
"""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from nebengjek import redis_keys
from nebengjek.errors import CommonError
from nebengjek.exceptions import error_body
from nebengjek.throttling import client_ip, fixed_window_hit
from rides import share
from rides.errors import RidesException
from rides.selectors import ride_get_visible


class ShareOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="The public page; the token in it is shown only in this answer.")
    token = serializers.CharField()
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Null while the ride is live: the link then lasts until 30 minutes after the end."
    )


class RideShareCreateApi(APIView):
    @extend_schema(request=None, responses={201: ShareOutputSerializer})
    def post(self, request, ride_id):
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        created = share.ride_share_create(ride=ride, user=request.user)
        expires_at = created.expires_at.isoformat().replace("+00:00", "Z") if created.expires_at else None
        return Response(
            {
                "id": str(created.share.pk),
                "url": request.build_absolute_uri(created.path),
                "token": created.token,
                "expires_at": expires_at,
            },
            status=status.HTTP_201_CREATED,
        )


class RideShareRevokeApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, ride_id, share_id):
        ride = ride_get_visible(ride_id=ride_id, user=request.user)
        share.ride_share_revoke(ride=ride, user=request.user, share_id=share_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


_PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _public(response):
    """What every answer of the public page carries: not cached, no referrer, not indexed."""
    for name, value in _PUBLIC_HEADERS.items():
        response[name] = value
    return response


@never_cache
@require_GET
def shared_trip_state(request, token):
    """GET /share/{token}/state: what the public page draws (rides.share.shared_trip_state). No sign-in. A plain
    Django view, outside the API schema: it serves the page, not the apps."""
    limited = _rate_limited(request)
    if limited is not None:
        return limited
    try:
        body, status_code = share.shared_trip_state(token=token), 200
    except RidesException as exc:
        body, status_code = error_body(exc.code, exc.message, exc.details), exc.status
    return _public(JsonResponse(body, status=status_code))


def _rate_limited(request) -> JsonResponse | None:
    """The public page and its JSON need no sign-in: at most RIDE_SHARE_RATE_PER_MINUTE requests per client address
    and minute, else 429 `throttled` with Retry-After."""
    key = redis_keys.key(redis_keys.RIDE_SHARE_RATE, ip=client_ip(request))
    retry = fixed_window_hit(key, limit=settings.RIDE_SHARE_RATE_PER_MINUTE, window_s=redis_keys.RIDE_SHARE_RATE_TTL)
    if retry is None:
        return None
    error = CommonError.THROTTLED
    response = JsonResponse(error_body(error, error.default_message, {"retry_after_s": retry}), status=error.status)
    response["Retry-After"] = str(retry)
    return _public(response)


@never_cache
def shared_trip_page(request, token):
    """The public page; an unknown, revoked or expired link shows the same "not available" page (404)."""
    limited = _rate_limited(request)
    if limited is not None:
        return limited
    try:
        share.shared_ride_get(token=token)
        found = True
    except RidesException:
        found = False
    response = render(
        request,
        "rides/share.html",
        {
            "token": token if found else "",
            "found": found,
            "tile_url": settings.OPS_TILE_URL,
            "poll_ms": int(settings.LIVE_TRIP_PUSH_INTERVAL_SECONDS * 1000) or 2000,
        },
        status=200 if found else 404,
    )
    return _public(response)
