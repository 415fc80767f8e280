"""`/ops/`: the server-rendered page (staff only; others go to the admin login), its socket token, a JSON
snapshot and the charts' series. The page's socket authenticates with a short-lived access token minted here for
the staff session."""

from datetime import timedelta

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from rest_framework_simplejwt.tokens import AccessToken

from gateway.ops import services
from gateway.ops.selectors import SERIES_DEFAULT_RANGE, SERIES_RANGES, ops_series, ops_snapshot
from nebengjek.errors import CommonError
from nebengjek.exceptions import error_body


def socket_token_for(user):
    """An access token for the staff user's own socket, valid OPS_TOKEN_LIFETIME_SECONDS (no refresh token)."""
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=settings.OPS_TOKEN_LIFETIME_SECONDS))
    return str(token)


@never_cache
@staff_member_required
def ops_page(request):
    services.ops_watch_mark()
    config = {
        "tileUrl": settings.OPS_TILE_URL,
        "tileAttribution": settings.OPS_TILE_ATTRIBUTION,
        "center": settings.OPS_MAP_CENTER,
        "tokenUrl": reverse("ops-token"),
        "snapshotUrl": reverse("ops-snapshot"),
        "seriesUrl": reverse("ops-series"),
        "defaultRange": SERIES_DEFAULT_RANGE,
        "timeZone": settings.OPS_TIME_ZONE,
    }
    context = {
        "snapshot": ops_snapshot(),
        "config": config,
        "series_ranges": SERIES_RANGES.values(),
        "series_default_range": SERIES_DEFAULT_RANGE,
    }
    return render(request, "ops/index.html", context)


@never_cache
@staff_member_required
def ops_socket_token(request):
    """The page asks before each (re)connect and every minute: it also tells the broadcaster someone watches."""
    services.ops_watch_mark()
    return JsonResponse(
        {"token": socket_token_for(request.user), "expires_in": settings.OPS_TOKEN_LIFETIME_SECONDS, "ws_path": "/ws/"}
    )


@never_cache
@staff_member_required
def ops_snapshot_json(request):
    return JsonResponse(ops_snapshot())


@never_cache
@staff_member_required
def ops_series_json(request):
    """GET ?range=15m|1h|6h|24h (default 1h): the charts' series (selectors.ops_series)."""
    range_name = request.GET.get("range", SERIES_DEFAULT_RANGE)
    if range_name not in SERIES_RANGES:
        message = f"range must be one of {', '.join(SERIES_RANGES)}."
        return JsonResponse(
            error_body(CommonError.INVALID_INPUT, message, {"range": list(SERIES_RANGES)}),
            status=CommonError.INVALID_INPUT.status,
        )
    return JsonResponse(ops_series(range_name=range_name))
