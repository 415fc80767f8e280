import pytest

from tests.browser.live_stack import Stack


@pytest.fixture
def stack(tmp_path):
    """A running stack (see live_stack.py), stopped after the test."""
    running = Stack(tmp_path)
    running.start()
    yield running
    running.stop()
