"""`manage.py simulate --compare`: the same seeded demand and supply under both dispatch modes, side by side."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.dispatch_compare import MODES, ROWS, comparison_table, figures_over_seeds, run_figures, scenarios

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_same_seed_plans_the_same_city_and_another_seed_another():
    first, again, other = (scenarios(seed=seed, scale=0.2) for seed in (7, 7, 8))

    assert first == again
    assert first != other
    assert [scenario.name for scenario in first] == ["peak", "quiet"]
    peak, quiet = first
    assert peak.drivers == quiet.drivers  # the same supply; only the demand differs
    assert len(peak.requests) > len(peak.drivers) > 0 and len(quiet.requests) < len(peak.requests)


def test_at_the_peak_drivers_keep_coming_free_and_are_outnumbered_by_requests():
    peak, quiet = scenarios(seed=4, scale=0.5)

    offsets = [at_s for at_s, _ in peak.arrivals]
    assert offsets == sorted(offsets) and 0 <= offsets[0] < peak.duration_s / 4 < peak.duration_s * 3 / 4 < offsets[-1]
    assert len(peak.requests) >= 2 * (len(peak.drivers) + len(peak.arrivals))
    assert quiet.arrivals == []


def test_over_several_seeds_each_cell_is_the_mean_and_spread_and_the_change_is_each_seeds_own():
    base = run_figures_from_nothing()
    immediate = [{**base, "pickup_m_mean": 1000.0}, {**base, "pickup_m_mean": 2000.0}]
    batched = [{**base, "pickup_m_mean": 800.0}, {**base, "pickup_m_mean": 1800.0}]

    table = comparison_table(
        {"peak": {"immediate": figures_over_seeds(immediate), "batched": figures_over_seeds(batched)}}
    )

    lines = table.splitlines()
    assert lines[0].split() == ["peak", "(2", "seeds)", "immediate", "batched", "change"]
    pickup = lines[2 + [key for _, key, _ in ROWS].index("pickup_m_mean")]
    # means 1500 and 1300, sample sd 707 each; the seeds' own changes are -20 % and -10 %: -15 % ±7 %
    assert pickup.split()[-6:] == ["1500", "±707", "1300", "±707", "-15%", "±7%"]


def test_the_table_puts_the_modes_side_by_side_with_every_figure():
    figures = run_figures_from_nothing()
    figures_by_mode = {
        "immediate": {**figures, "pickup_m_mean": 1000.0},
        "batched": {**figures, "pickup_m_mean": 800.0},
    }

    table = comparison_table({"peak": figures_by_mode})

    lines = table.splitlines()
    assert lines[0].split() == ["peak", "immediate", "batched", "change"]
    assert [label for label, _, _ in ROWS] == [line[:32].strip() for line in lines[2 : 2 + len(ROWS)]]
    assert lines[2 + [key for _, key, _ in ROWS].index("pickup_m_mean")].split()[-3:] == ["1000", "800", "-20%"]


def run_figures_from_nothing():
    from gateway.dispatch_compare import RunRecord

    return run_figures(RunRecord(duration_s=10, n_drivers=2))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_tiny_seeded_comparison_prints_both_modes_for_the_peak_and_the_quiet_hour(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="nebengjek.settings",
        VAR_DIR=str(tmp_path),
        CHANNEL_PREFIX="njcompare",
        EMBEDDED_REDIS_PORT=str(free_port()),
        WEB_CONCURRENCY="1",
        CELERY_CONCURRENCY="1",
    )
    summary = tmp_path / "compare.json"

    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "--compare",
            "--scale",
            "0.05",
            "--seed",
            "3",
            "--drain",
            "3",
            "--stack-port",
            str(free_port()),
            "--json",
            str(summary),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=850,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(summary.read_text())
    assert list(results) == ["peak", "quiet"]
    assert all(list(results[scenario]) == list(MODES) for scenario in results)
    assert all(results[s]["immediate"]["requests"] == results[s]["batched"]["requests"] > 0 for s in results)
    assert all(set(results[s][mode]) >= {key for _, key, _ in ROWS} for s in results for mode in MODES)
    assert results["peak"]["batched"]["windows"] >= 1
    headers = [line.split() for line in result.stdout.splitlines() if line.endswith("change")]
    assert headers == [["peak", "immediate", "batched", "change"], ["quiet", "immediate", "batched", "change"]]
    assert "pickup distance mean (m)" in result.stdout and "request -> proposal p99 (ms)" in result.stdout
