"""`manage.py simulate` against a live stack: simulated passengers get proposals, drivers accept, passengers
confirm — over the real REST API and socket — and the run ends with a summary and no errors."""

import json

import pytest

pytestmark = [pytest.mark.slow]


def test_a_short_simulation_requests_matches_and_confirms_rides_without_errors(stack, tmp_path):
    stack.manage("seed", "--drivers", "12", "--passengers", "4")
    summary_path = tmp_path / "summary.json"

    result = stack.manage(
        "simulate",
        "--url",
        stack.url,
        "--drivers",
        "12",
        "--passengers",
        "4",
        "--duration",
        "6",
        "--drain",
        "0",
        "--think",
        "1",
        "--json",
        str(summary_path),
    )

    summary = json.loads(summary_path.read_text())
    assert summary["requests"] >= 1
    assert summary["proposals"] >= 1
    assert summary["confirmed"] >= 1
    assert summary["request_to_proposal_ms"]["count"] >= 1
    assert summary["locations_accepted"] > 0
    assert summary["errors"] == {}
    assert "request -> proposal: p50" in result.stdout
