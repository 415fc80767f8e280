"""Killed worker, small (issue 9, item 5; `make reliability` runs 1,000 rides and 5 kills): a real Celery worker
settles 100 completed rides and is SIGKILLed twice mid-way; afterwards each ride is settled exactly once, every
transaction sums to zero and reconcile_ledger is clean."""

import os

import pytest
from django.core.management import call_command
from django.db import connection

from tests.reliability.killed_worker import run
from tests.reliability.parallel import postgres_only

pytestmark = [postgres_only, pytest.mark.slow, pytest.mark.timeout(240)]


def test_settlements_survive_a_worker_killed_twice_mid_way():
    # given 100 completed rides whose settle_ride messages wait in a broker, and a worker settling them
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}"
        f"/{settings_dict['NAME']}"
    )

    # when the worker is SIGKILLed twice while it settles, and restarted each time
    figures = run(
        rides=100,
        kills=2,
        redis_port=int(os.environ.get("RELIABILITY_REDIS_PORT", "6508")),
        database_url=database_url,
        timeout=150,
    )

    # then every ride is settled exactly once and the ledger reconciles
    assert figures["kills"] == 2, figures
    assert (figures["settled_once"], figures["settled_twice_or_more"], figures["unsettled"]) == (100, 0, 0), figures
    assert figures["unbalanced_transactions"] == 0 and figures["sum_of_all_entries"] == 0, figures
    call_command("reconcile_ledger", "--grace-seconds", "0")  # raises CommandError unless clean
