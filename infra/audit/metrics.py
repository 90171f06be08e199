"""The result of the last verification of each log, as Prometheus gauges."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, Gauge

from infra.audit.verify import Verdict
from infra.metric_set import MetricSet, metric

LAST_RUN_PER_LOG: dict[str, Any] = {"labels": ["log"], "multiprocess_mode": "mostrecent"}
"""Each gauge holds, per log, the last run's value (the most recent across processes)."""


@dataclass(frozen=True)
class AuditMetrics(MetricSet):
    """Per log: intact or not, where it broke, how much was checked, and when."""

    intact: Gauge = metric(
        "audit_chain_intact",
        "1 if the log's chain verified against its checkpoints at the last run, else 0",
        **LAST_RUN_PER_LOG,
    )
    broken_position: Gauge = metric(
        "audit_chain_broken_position",
        "The first position that broke at the last run (0 when intact)",
        **LAST_RUN_PER_LOG,
    )
    verified_events: Gauge = metric(
        "audit_chain_verified_events",
        "Events checked by the last run",
        **LAST_RUN_PER_LOG,
    )
    verified_at: Gauge = metric(
        "audit_chain_verified_timestamp_seconds",
        "When the last run ended (Unix time)",
        **LAST_RUN_PER_LOG,
    )

    def record(self, verdict: Verdict) -> None:
        """Publish one log's verdict."""
        self.intact.labels(verdict.log).set(1 if verdict.ok else 0)
        self.broken_position.labels(verdict.log).set(verdict.position or 0)
        self.verified_events.labels(verdict.log).set(verdict.verified)
        self.verified_at.labels(verdict.log).set(time.time())


AUDIT_METRICS = AuditMetrics.on(REGISTRY)
