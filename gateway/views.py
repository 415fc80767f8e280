"""Liveness, readiness and metrics endpoints, and the socket contract (no token needed)."""

import hmac

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django_prometheus.exports import ExportToDjangoView

from gateway.asyncapi import asyncapi_document
from nebengjek.errors import CommonError
from nebengjek.exceptions import error_body
from nebengjek.redis import get_redis, role_urls


def landing(request):
    """`/`: where the start banner and the admin's "View site" point: links to the docs, admin, ops and health."""
    return render(request, "site/landing.html")


def asyncapi(request):
    """`/api/asyncapi.json`: the AsyncAPI 3 contract of the `/ws/` socket (gateway.asyncapi)."""
    return JsonResponse(asyncapi_document())


def ping(request):
    return JsonResponse({"status": "ok"})


def _database_ok():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _redis_url_ok(url: str) -> bool:
    try:
        return bool(get_redis(url).ping())
    except Exception:
        return False


def _redis_roles_down() -> list[str]:
    """The Redis roles (live, rate, cache, channels) with a URL that does not answer; each URL is asked once."""
    answers: dict[str, bool] = {}
    down = []
    for role, urls in role_urls().items():
        for url in urls:
            if url not in answers:
                answers[url] = _redis_url_ok(url)
        if not all(answers[url] for url in urls):
            down.append(role)
    return down


def ready(request):
    redis_down = _redis_roles_down()
    checks = {"database": "ok" if _database_ok() else "unavailable", "redis": "unavailable" if redis_down else "ok"}
    if all(state == "ok" for state in checks.values()):
        return JsonResponse({"status": "ok", "checks": checks})
    failed = ", ".join(
        name if name != "redis" else f"redis ({', '.join(redis_down)})"
        for name, state in checks.items()
        if state != "ok"
    )
    body = error_body(
        CommonError.SERVICE_UNAVAILABLE,
        f"Not ready: {failed} unavailable.",
        {"checks": checks, "redis_roles_unavailable": redis_down},
    )
    return JsonResponse(body, status=CommonError.SERVICE_UNAVAILABLE.status)


def metrics(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given, token):
            return JsonResponse(
                error_body(CommonError.NOT_AUTHENTICATED, "A metrics token is required."),
                status=CommonError.NOT_AUTHENTICATED.status,
            )
    return ExportToDjangoView(request)
