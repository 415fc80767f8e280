"""Logs are one JSON line per event, each carrying the request id, with the OTP line still easy to find."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_REQUEST = """
import django
django.setup()
from django.test import Client
Client().get("/api/v1/me", HTTP_X_REQUEST_ID="req-abc")
"""


def test_a_4xx_is_logged_once_as_json_with_the_callers_request_id():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "nebengjek.settings_test", "PYTHONPATH": str(ROOT),
           "DEBUG": "true"}

    result = subprocess.run([sys.executable, "-c", _REQUEST], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60)

    lines = [line for line in result.stderr.splitlines() if "/api/v1/me" in line]
    assert len(lines) == 1, result.stderr
    record = json.loads(lines[0])
    assert record["logger"] == "django.request" and record["status_code"] == 401
    assert record["request_id"] == "req-abc"


def test_celery_logs_warnings_only_by_default(settings):
    import logging

    assert logging.getLogger("celery.app.trace").getEffectiveLevel() == logging.WARNING
    assert settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False
