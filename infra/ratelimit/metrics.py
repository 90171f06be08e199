"""The rate limiter's metrics: the shared store's health, fallback decisions and refusals."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class RateLimitMetrics:
    """The store's health, requests decided without it, and requests refused."""

    store_up: Gauge
    fallback: Counter
    limited: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> RateLimitMetrics:
        """Create and register the metrics on registry."""
        return cls(
            store_up=Gauge(
                "rate_limit_store_up",
                "1 while the shared rate-limit store (Redis) answers, 0 while on the fallback",
                registry=registry,
                multiprocess_mode="livemin",
            ),
            fallback=Counter(
                "rate_limit_fallback_total",
                "Requests whose budgets this process decided alone, in memory",
                registry=registry,
            ),
            limited=Counter(
                "rate_limited_requests_total",
                "Requests answered 429, by the budget that refused them",
                ["policy"],
                registry=registry,
            ),
        )


DEFAULT_METRICS = RateLimitMetrics.on(REGISTRY)
