"""`make run` survives a killed process (issue 20, item 15): runstack restarts any child that dies (web server,
both Celery workers, beat), logs a WARNING with the exit code, and the web server keeps answering; SIGTERM still
stops everything.

The real stack (`manage.py runstack`, tests/browser/live_stack.py) on a free port with its own SQLite file; each
child is found by its command line and SIGKILLed in turn."""

import os
import signal
import time

import httpx
import psutil
import pytest
from django.conf import settings

from tests.browser.live_stack import Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

RESTART_DEADLINE_S = 25

CHILDREN = {  # name -> how its command line reads
    "web": lambda cmd: "uvicorn" in cmd,
    "worker default": lambda cmd: "worker" in cmd and "default@%h" in cmd,
    "worker matching": lambda cmd: "worker" in cmd and "matching@%h" in cmd,
    "beat": lambda cmd: "beat" in cmd,
}


def child_pid(stack, name):
    """The pid of runstack's direct child `name`, or None while there is none."""
    try:
        children = psutil.Process(stack.process.pid).children()
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if CHILDREN[name](child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                return child.pid
        except psutil.NoSuchProcess:
            continue
    return None


def ping(stack):
    try:
        return httpx.get(stack.url + "/ping", timeout=2).status_code
    except httpx.HTTPError:
        return None


def wait_for(condition, deadline_s, what):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {deadline_s} s: {what}")


@pytest.fixture
def stack(tmp_path):
    running = Stack(tmp_path, redis_url=settings.REDIS_URL, channel_prefix="njsupervise")
    running.env["RUNSTACK_RESTART_BACKOFF_SECONDS"] = "0.5"
    running.start()
    yield running
    running.stop()


def test_runstack_restarts_each_killed_child_and_keeps_serving_and_sigterm_stops_everything(stack):
    # given the stack with its four children up
    wait_for(lambda: all(child_pid(stack, name) for name in CHILDREN), RESTART_DEADLINE_S, "all children up")

    for name in CHILDREN:
        # when one child is SIGKILLed
        killed = child_pid(stack, name)
        os.kill(killed, signal.SIGKILL)

        # then runstack is still running, a new process of that kind replaces it, and /ping answers
        wait_for(
            lambda name=name, killed=killed: child_pid(stack, name) not in {None, killed},
            RESTART_DEADLINE_S,
            f"{name} restarted",
        )
        wait_for(lambda: ping(stack) == 200, RESTART_DEADLINE_S, f"/ping after killing the {name}")
        assert stack.process.poll() is None, stack.log_path.read_text()[-3000:]
        wait_for(lambda: "exited with code -9" in stack.log_path.read_text(), 5, f"the {name}'s exit logged")

    log = stack.log_path.read_text()
    assert log.count('"level": "WARNING", "logger": "gateway.management.commands.runstack"') >= len(CHILDREN), log

    # and SIGTERM still stops runstack and every child
    children = psutil.Process(stack.process.pid).children(recursive=True)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=30) == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
