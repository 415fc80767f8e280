"""The production image: built from source only, runtime dependencies only, metrics directory set.

Building needs a Docker engine; where none runs (this machine kind has only the client) the image tests skip with
that reason. The requirements split is checked everywhere."""

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS = {"pytest", "pytest-django", "pytest-asyncio", "factory-boy", "hypothesis", "schemathesis", "playwright"}


def _pinned_names(path):
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)==", line)
        if match:
            names.add(match.group(1).lower().replace("_", "-"))
    return names


def test_runtime_requirements_carry_no_test_tools():
    runtime = _pinned_names(ROOT / "requirements.txt")
    dev = _pinned_names(ROOT / "requirements-dev.txt")

    assert not runtime & TEST_TOOLS
    assert TEST_TOOLS <= dev
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


def _docker_engine_reason():
    if shutil.which("docker") is None:
        return "no docker client"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True)
    return None if probe.returncode == 0 else "no Docker engine answers `docker info` on this machine"


@pytest.fixture(scope="module")
def image():
    reason = _docker_engine_reason()
    if reason:
        pytest.skip(reason)
    tag = f"nebengjek-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-q", "-t", tag, str(ROOT)], check=True, capture_output=True, timeout=900)
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def _run(image, *command):
    return subprocess.run(["docker", "run", "--rm", image, *command], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_image_holds_source_only(image):
    listing = _run(image, "ls", "-a", "/app").stdout.split()

    assert {".venv", ".git", ".env"}.isdisjoint(listing)
    assert "db.sqlite3" not in _run(image, "ls", "/app/var").stdout


@pytest.mark.slow
def test_image_has_no_test_tools_and_a_metrics_directory(image):
    assert _run(image, "python", "-c", "import pytest").returncode != 0
    result = _run(image, "sh", "-c", 'test -d "$PROMETHEUS_MULTIPROC_DIR" && test -w "$PROMETHEUS_MULTIPROC_DIR"')
    assert result.returncode == 0
