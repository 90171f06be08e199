"""Groups of Prometheus metrics declared as dataclass fields and registered together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Self, get_type_hints

from prometheus_client import CollectorRegistry


def metric(name: str, documentation: str, labels: Sequence[str] = (), **options: Any) -> Any:
    """A MetricSet field: kind(name, documentation, labels, **options) is made on the set's
    registry, kind being the field's annotation. Declare it as `state: Gauge = metric(...)`."""
    return field(metadata={"metric": (name, documentation, tuple(labels), options)})


@dataclass(frozen=True)
class MetricSet:
    """A frozen dataclass whose fields are metric() declarations; on() registers them all."""

    @classmethod
    def on(cls, registry: CollectorRegistry) -> Self:
        """Create and register the metrics on registry."""
        kinds = get_type_hints(cls)
        made = {}
        for each in fields(cls):
            name, documentation, labels, options = each.metadata["metric"]
            made[each.name] = kinds[each.name](
                name, documentation, labels, registry=registry, **options
            )
        return cls(**made)
