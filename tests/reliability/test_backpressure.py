"""Backpressure, small (issue 9, item 10; `make reliability` runs more clients and a bigger flood): a socket that
stops reading does not hold back the others' pushes and acks, the server drops it (issue 20, item 16), and its
missed events come back with `resume`."""

import socket

import pytest
from django.db import connection

from tests.reliability.backpressure import run
from tests.reliability.parallel import postgres_only

# The uvicorn process must see the test's rows: an in-memory SQLite test database cannot be shared.
pytestmark = [postgres_only, pytest.mark.slow, pytest.mark.timeout(180)]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_socket_that_stops_reading_holds_back_no_one_is_dropped_and_resumes_everything_in_order():
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}"
        f"/{settings_dict['NAME']}"
    )

    figures = run(normal=10, rounds=20, flood=50, http_port=free_port(), database_url=database_url, timeout=60)

    assert figures["all_delivered_in_time"], figures
    assert figures["normal_events_in_order_once"], figures
    assert figures["pings_acked"] == figures["pings_sent"], figures
    assert figures["slow_replayed_in_order_complete"], figures
    assert figures["slow_dropped_by_server"] in {("close", 4408), ("reset", None), ("eof", None)}, figures
    print(figures)
