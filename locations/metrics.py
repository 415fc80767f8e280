"""Live-location metrics on /metrics (per process)."""

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

LOCATION_UPDATES = Counter(
    "nebengjek_location_updates_total",
    "Location updates by outcome: accepted, or dropped by the plausibility filter (and why)",
    ["outcome"],  # accepted | out_of_order | too_fast | inaccurate | future | no_reference
)
LOCATION_ACK_SECONDS = Histogram(
    "nebengjek_location_ack_seconds",
    "Per flush of the location batch: from its oldest update's arrival to Redis' reply (that update's ack wait)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
WS_CONNECTIONS = Gauge("nebengjek_ws_connections", "Open user WebSockets in this process", multiprocess_mode="livesum")
WS_MESSAGES_THROTTLED = Counter("nebengjek_ws_messages_throttled_total", "Socket messages refused as rate_limited")
WS_SLOW_CONSUMERS_CLOSED = Counter(
    "nebengjek_ws_slow_consumers_closed_total",
    "Sockets closed with 4408: the client let too many pushes pile up unread",
)

_outcomes: dict[str, Any] = {}  # outcome -> its labelled counter


def count_location(outcome):
    child = _outcomes.get(outcome)
    if child is None:
        child = _outcomes[outcome] = LOCATION_UPDATES.labels(outcome=outcome)
    child.inc()


NEARBY_FAST = Counter(
    "nebengjek_nearby_requests_total",
    "GET /drivers/nearby with a token, by who answered: the fast ASGI path, or Django (refused or doubtful ones)",
    ["path"],  # fast | django
)
