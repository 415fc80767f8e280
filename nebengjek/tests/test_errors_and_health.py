"""The error shape on the edges, liveness/readiness, schema and docs."""

import re

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections


def test_ping(api_client):
    assert api_client.get("/ping").json() == {"status": "ok"}


def test_ready_when_database_and_redis_answer(api_client):
    response = api_client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_ready_is_503_naming_redis_when_redis_is_unreachable(api_client, settings):
    settings.LIVE_REDIS_URL = "redis://127.0.0.1:1/0"

    response = api_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "service_unavailable"
    assert body["details"]["checks"] == {"database": "ok", "redis": "unavailable"}


def test_ready_names_the_redis_role_whose_server_is_unreachable(api_client, settings):
    settings.RATE_REDIS_URL = "redis://127.0.0.1:1/0"

    response = api_client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()["error"]
    assert body["details"]["redis_roles_unavailable"] == ["rate"]
    assert "redis (rate)" in body["message"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ends its own PostgreSQL session")
def test_a_lost_database_connection_is_503_service_unavailable_never_500(client_for):
    from accounts.tests.factories import make_passenger

    client = client_for(make_passenger())
    _terminate_this_database_session()
    try:
        response = client.get("/api/v1/me")
    finally:
        connection.close()  # the server closes a broken connection at the request's end; the test client does not

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert client.get("/api/v1/me").status_code == 200


def _terminate_this_database_session():
    """What a PostgreSQL restart or failover does to a connection the server holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def test_unknown_api_path_is_json_404(api_client):
    response = api_client.get("/api/v1/nope")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405(client_for):
    from accounts.tests.factories import make_passenger

    response = client_for(make_passenger()).delete("/api/v1/me")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/v1/auth/otp/request", "{nope", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_bad_token_is_401_in_the_error_shape(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = api_client.get("/api/v1/me")

    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_schema_and_docs_need_no_token(api_client):
    schema = api_client.get("/api/schema/")
    docs = api_client.get("/api/docs/")
    redoc = api_client.get("/api/redoc/")

    assert schema.status_code == 200 and b"/api/v1/auth/otp/request" in schema.content
    assert docs.status_code == 200
    assert redoc.status_code == 200


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_scripts_from_this_server_not_a_cdn(client, page):
    html = client.get(page).content.decode()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)

    assert scripts, "the page loads its UI from a script"
    assert all(src.startswith("/static/drf_spectacular_sidecar/") for src in scripts), scripts
    for src in scripts:
        assert client.get(src).status_code == 200, src


def test_landing_page_links_docs_admin_ops_and_health(client):
    response = client.get("/")

    assert response.status_code == 200
    for link in ("/api/docs/", "/api/redoc/", "/api/schema/", "/admin/", "/ops/", "/health/ready", "/ping"):
        assert f'href="{link}"' in response.content.decode(), link


@pytest.mark.parametrize("debug", [True, False])
def test_unknown_api_path_is_a_json_404_in_every_mode(client, settings, debug):
    settings.DEBUG = debug

    for response in (client.get("/api/v1/no-such-thing"), client.post("/api/v1/matches/null/accept")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_metrics_are_prometheus_text(api_client):
    response = api_client.get("/metrics")

    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_metrics_token_setting_restricts_metrics(api_client, settings):
    settings.METRICS_TOKEN = "s3cret"

    assert api_client.get("/metrics").status_code == 401
    assert api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


@pytest.mark.parametrize(
    "env", [{"NEBENGJEK_ENV": "production", "DEBUG": "true", "SECRET_KEY": "x" * 50}, {"DEBUG": "false"}]
)
def test_production_settings_refuse_unsafe_configuration(env):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "NEBENGJEK_ENV"}}
    result = subprocess.run(
        [sys.executable, "-c", "import nebengjek.settings"], env={**clean, **env}, capture_output=True, text=True
    )

    assert result.returncode != 0
    assert "Refusing to start" in result.stderr
