"""Celery on RabbitMQ (the multi-node topology): the queues are durable quorum queues, a task whose worker is
killed mid-run is delivered again by the broker to the next worker (acks_late), and a countdown task waits in the
broker (native delayed delivery, which quorum queues need) and then runs. Against the machine's RabbitMQ at
127.0.0.1:5672 (guest/guest); queues named uniquely per run and deleted after; skipped when RabbitMQ is down."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
WAIT_SECONDS = 30

pytestmark = pytest.mark.slow


def _rabbitmq_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def broker_env(tmp_path):
    if not _rabbitmq_up():
        pytest.skip("RabbitMQ is not reachable at 127.0.0.1:5672")
    prefix = f"njtest{uuid.uuid4().hex[:10]}_"
    env = {
        **os.environ,
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_QUEUE_PREFIX": prefix,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "nebengjek.settings",
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(BASE_DIR),
    }
    yield env
    _delete_queues(prefix)


def _delete_queues(prefix: str) -> None:
    from kombu import Connection

    with Connection(BROKER_URL, connect_timeout=3) as connection:
        channel = connection.default_channel
        for name in (f"{prefix}celery", f"{prefix}dispatch"):
            for delete in (channel.queue_delete, channel.exchange_delete):
                try:
                    delete(name)
                except Exception:  # never declared (a failed run): nothing to clean
                    channel = connection.channel()


def _start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "nebengjek",
            "worker",
            "--include",
            "tests.cluster.probe_tasks",
            "-Q",
            f"{env['CELERY_QUEUE_PREFIX']}celery",
            "-c",
            "1",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"probe{uuid.uuid4().hex[:6]}@%h",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _publish(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tests.cluster.probe_tasks", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=WAIT_SECONDS,
    )


def _kill(worker: subprocess.Popen) -> None:
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait(10)


def _wait_for(predicate, what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _runs(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_killed_workers_task_is_delivered_again_by_rabbitmq_whose_quorum_queues_run_countdown_tasks(
    broker_env, tmp_path
):
    from amqp.exceptions import PreconditionFailed
    from kombu import Connection

    runs, marked, log = tmp_path / "runs.log", tmp_path / "marked", tmp_path / "worker.log"
    first = _start_worker(broker_env, log)
    try:
        _publish(broker_env, "hold", str(runs))
        _wait_for(lambda: len(_runs(runs)) == 1, "the first worker started the task", log)
    finally:
        _kill(first)  # SIGKILL, worker and pool alike: it acknowledges nothing
    second = _start_worker(broker_env, log)
    try:
        _wait_for(lambda: len(_runs(runs)) == 2, "the broker delivered the task again to the next worker", log)
        _publish(broker_env, "mark", str(marked), "2")
        _wait_for(marked.exists, "the countdown task ran", log)
    finally:
        _kill(second)

    assert _runs(runs) == ["run redelivered=False", "run redelivered=True"]
    with Connection(BROKER_URL, connect_timeout=3) as connection:
        with pytest.raises(PreconditionFailed, match="x-queue-type"):  # declared otherwise: RabbitMQ refuses
            connection.channel().queue_declare(
                queue=f"{broker_env['CELERY_QUEUE_PREFIX']}celery",
                durable=True,
                auto_delete=False,
                arguments={"x-queue-type": "classic"},
            )
