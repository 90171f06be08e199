"""What a projection's worker exports to Prometheus (its failures also go to the dead letters)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LAG_EVENTS = Gauge(
    "projection_lag_events", "Events in the log not yet projected", ["projection", "log"]
)
LAG_SECONDS = Gauge(
    "projection_lag_seconds",
    "Age of the oldest event not yet projected (0 when caught up)",
    ["projection", "log"],
)
PROJECTED = Counter("projection_events_total", "Events projected", ["projection", "log"])
FAILURES = Counter(
    "projection_failures_total",
    "Store retries (retry), events parked or skipped, stops, views found reset (view_reset)",
    ["projection", "kind"],
)
PARKED = Gauge("projection_parked_events", "Events parked in the dead letters", ["projection"])
VIEW_INCOMPLETE = Counter(
    "view_incomplete_reads_total",
    "Reads not answered because the view is incomplete (rebuilding from empty): the query "
    "API's 503 view-incomplete answers, and sold-out checks that trusted nothing",
    ["view", "reader"],
)
