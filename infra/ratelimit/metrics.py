"""The rate limiter's metrics: the shared store's health, fallback decisions and refusals."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge

from infra.metric_set import MetricSet, metric


@dataclass(frozen=True)
class RateLimitMetrics(MetricSet):
    """The store's health, requests decided without it, and requests refused."""

    store_up: Gauge = metric(
        "rate_limit_store_up",
        "1 while the shared rate-limit store (Redis) answers, 0 while on the fallback",
        multiprocess_mode="livemin",
    )
    fallback: Counter = metric(
        "rate_limit_fallback_total",
        "Requests whose budgets this process decided alone, in memory",
    )
    limited: Counter = metric(
        "rate_limited_requests_total",
        "Requests answered 429, by the budget that refused them",
        ["policy"],
    )


DEFAULT_METRICS = RateLimitMetrics.on(REGISTRY)
