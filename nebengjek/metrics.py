"""Cross-cutting and domain metrics on /metrics beside django-prometheus' own.

Socket and location-update metrics live in locations/metrics.py. Under `make run` every process (web workers,
Celery worker) writes to PROMETHEUS_MULTIPROC_DIR, so a counter bumped in a Celery task shows on /metrics;
gauges say how they combine across processes (`multiprocess_mode`).
"""

from datetime import datetime
from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

CELERY_TASK_FAILURES = Counter("nebengjek_celery_task_failures_total", "Celery tasks that raised", ["task"])
CELERY_QUEUE_DEPTH = Gauge(
    "nebengjek_celery_queue_depth",
    "Messages waiting in each Celery queue (set by the ops broadcaster)",
    ["queue"],
    multiprocess_mode="mostrecent",
)

# --- live state, set by the ops broadcaster (gateway.ops.tasks) every few seconds ---------------------------
ONLINE_DRIVERS = Gauge(
    "nebengjek_online_drivers", "Drivers with the beacon on and a fresh position", multiprocess_mode="mostrecent"
)
AVAILABLE_DRIVERS = Gauge(
    "nebengjek_available_drivers", "Online drivers not held by a proposal or a ride", multiprocess_mode="mostrecent"
)
SEARCHING_REQUESTS = Gauge(
    "nebengjek_searching_requests", "Ride requests waiting for a driver", multiprocess_mode="mostrecent"
)
RIDES_IN_PROGRESS = Gauge(
    "nebengjek_rides_in_progress", "Rides started and not yet ended", multiprocess_mode="mostrecent"
)

# --- matching ----------------------------------------------------------------------------------------------
PROPOSALS = Counter(
    "nebengjek_proposals_total", "Proposals to drivers by outcome", ["outcome"]
)  # sent | accepted | rejected | expired | cancelled
REQUEST_TO_PROPOSAL_SECONDS = Histogram(
    "nebengjek_request_to_proposal_seconds",
    "From a ride request's creation to its first batch of proposals",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DISPATCH_SOLVE_SECONDS = Histogram(
    "nebengjek_dispatch_solve_seconds",
    "Batched dispatch: the assignment solver's time for one cell's window",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
DISPATCH_WINDOW_REQUESTS = Histogram(
    "nebengjek_dispatch_window_requests",
    "Batched dispatch: requests assigned together in one cell's window",
    buckets=(1, 2, 3, 5, 10, 20, 50, 100, 200),
)

# --- rides ------------------------------------------------------------------------------------------------
RIDES_STALE = Gauge(
    "nebengjek_rides_stale",
    "Rides in progress whose driver sent no accepted position for "
    "RIDE_STALE_AFTER_SECONDS (set by the unattended-ride sweeper)",
    multiprocess_mode="mostrecent",
)
RIDES_UNATTENDED_ENDED = Counter(
    "nebengjek_rides_unattended_ended_total", "Rides the system ended because their driver went silent", ["reason"]
)
DRIVER_GONE_REPORTS = Counter("nebengjek_driver_gone_reports_total", "Passengers' first 'driver gone' reports")

# --- rides: the meter ---------------------------------------------------------------------------------------
RIDE_DISTANCE_CAPPED = Counter(
    "nebengjek_ride_distance_capped_total",
    "Rides whose metered distance exceeded the cap (a multiple of the straight line plus a margin): clipped for "
    "the fare and flagged for operators",
)
METER_POINTS_REFUSED = Counter(
    "nebengjek_meter_points_refused_total",
    "Positions the meter refused against the ride's own last point (implied speed above the limit)",
)

# --- billing -----------------------------------------------------------------------------------------------
SETTLEMENTS = Counter("nebengjek_settlements_total", "Ride settlements posted to the ledger", ["payment_method"])
SETTLEMENT_LAG_SECONDS = Histogram(
    "nebengjek_settlement_lag_seconds",
    "From a ride's end to its settlement in the ledger",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
SETTLEMENT_BACKLOG_AGE_SECONDS = Gauge(
    "nebengjek_settlement_backlog_age_seconds",
    "How long the oldest completed ride without a settlement has waited (0 when all are settled; set by the ledger "
    "check)",
    multiprocess_mode="mostrecent",
)
LEDGER_IMBALANCE_IDR = Gauge(
    "nebengjek_ledger_imbalance_idr",
    "Rupiah unaccounted for at the last ledger reconciliation (0 when sound)",
    multiprocess_mode="mostrecent",
)
LEDGER_PROBLEMS = Gauge(
    "nebengjek_ledger_problems", "Problems found by the last ledger reconciliation", multiprocess_mode="mostrecent"
)
LEDGER_CHECKED_AT = Gauge(
    "nebengjek_ledger_checked_timestamp_seconds", "When the ledger was last reconciled", multiprocess_mode="mostrecent"
)


class LedgerFindings(Protocol):
    @property
    def imbalance(self) -> int: ...

    @property
    def problems(self) -> int: ...


def proposals_count(outcome: str, n: int = 1) -> None:
    """Count `n` proposals reaching `outcome` (sent | accepted | rejected | expired | cancelled)."""
    if n:
        PROPOSALS.labels(outcome=outcome).inc(n)


def proposals_sent(*, n: int, batch_no: int, request_created_at: datetime, proposed_at: datetime) -> None:
    """A batch of `n` proposals went out; the first batch of a request also times request -> proposal."""
    proposals_count("sent", n)
    if batch_no == 1 and n:
        request_first_proposal_observe(created_at=request_created_at, proposed_at=proposed_at)


def request_first_proposal_observe(*, created_at: datetime, proposed_at: datetime) -> None:
    """The request -> first proposal latency of one request (call once, for its first batch)."""
    REQUEST_TO_PROPOSAL_SECONDS.observe(max(0.0, (proposed_at - created_at).total_seconds()))


def dispatch_window_observe(*, requests: int, solve_seconds: float) -> None:
    """One cell's window was assigned: how many requests, and how long the solver took."""
    DISPATCH_WINDOW_REQUESTS.observe(requests)
    DISPATCH_SOLVE_SECONDS.observe(solve_seconds)


def rides_unattended_ended(reason: str) -> None:
    """A ride ended by the system (reason: driver_gone | abandoned)."""
    RIDES_UNATTENDED_ENDED.labels(reason=reason).inc()


def driver_gone_reported() -> None:
    DRIVER_GONE_REPORTS.inc()


def settlement_observe(*, payment_method: str, ended_at: datetime | None, settled_at: datetime) -> None:
    """One settlement posted (not a repeat of an existing one)."""
    SETTLEMENTS.labels(payment_method=payment_method).inc()
    if ended_at is not None:
        SETTLEMENT_LAG_SECONDS.observe(max(0.0, (settled_at - ended_at).total_seconds()))


def ledger_findings_record(findings: LedgerFindings, *, checked_at: datetime) -> None:
    """Publish what the ledger reconciler found (billing.selectors.ledger_findings)."""
    LEDGER_IMBALANCE_IDR.set(findings.imbalance)
    LEDGER_PROBLEMS.set(findings.problems)
    LEDGER_CHECKED_AT.set(checked_at.timestamp())


# --- overload: the door of new ride requests (matching/overload.py) and the server's own backlog ---------------
REQUESTS_SHED = Counter(
    "nebengjek_ride_requests_shed_total",
    "New ride requests answered 503 dispatch_overloaded, by the backlog that passed its threshold",
    ["reason"],
)  # server_backlog | event_loop_lag | dispatch_backlog
EVENT_LOOP_LAG_SECONDS = Gauge(
    "nebengjek_event_loop_lag_seconds",
    "How late the server process's event loop ran a timer (pushes and socket answers wait this long)",
    multiprocess_mode="max",
)
SYNC_BACKLOG = Gauge(
    "nebengjek_sync_backlog",
    "Synchronous calls (REST views, socket ORM handlers) started and not finished in this server process",
    multiprocess_mode="livesum",
)
PROPOSALS_DROPPED_EXPIRED = Counter(
    "nebengjek_proposals_dropped_expired_total",
    "match.proposal pushes not delivered because the proposal had expired by then",
)


def settlement_backlog_record(*, oldest_ended_at: datetime | None, now: datetime) -> None:
    """The age of the oldest unsettled completed ride (billing.selectors.unsettled_oldest_ended_at), 0 for none."""
    age = (now - oldest_ended_at).total_seconds() if oldest_ended_at is not None else 0.0
    SETTLEMENT_BACKLOG_AGE_SECONDS.set(max(0.0, age))


def celery_queue_depths_record(depths: dict[str, int]) -> None:
    for queue, depth in depths.items():
        CELERY_QUEUE_DEPTH.labels(queue=queue).set(depth)
