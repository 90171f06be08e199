"""Groups of Prometheus metrics declared as dataclass fields and registered together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Self

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase


def metric(
    kind: type[MetricWrapperBase],
    name: str,
    documentation: str,
    labels: Sequence[str] = (),
    **options: Any,
) -> dict[str, Any]:
    """A MetricSet field's metadata: kind(name, documentation, labels, **options) is made on
    the set's registry. Declare the field as `state: Gauge = field(metadata=metric(...))`."""
    return {"metric": (kind, name, documentation, tuple(labels), options)}


@dataclass(frozen=True)
class MetricSet:
    """A frozen dataclass whose fields carry metric() metadata; on() registers them all."""

    @classmethod
    def on(cls, registry: CollectorRegistry) -> Self:
        """Create and register the metrics on registry."""
        made = {}
        for each in fields(cls):
            kind, name, documentation, labels, options = each.metadata["metric"]
            made[each.name] = kind(name, documentation, labels, registry=registry, **options)
        return cls(**made)
