"""What the audit API reads, whatever the event store: one interface, one contract suite
(tests/contract/test_audit_reader.py) over PostgreSQL and KurrentDB."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from auditapi.events import EventDecoder, Recorded

CONTEXT_OF_MODULE = {
    "domain.product": "catalog",
    "domain.seller": "catalog",
    "domain.inventory": "inventory",
    "domain.cart": "carts",
    "domain.customer": "customers",
    "domain.order": "orders",
    "domain.fulfilment": "orders",
}
"""The bounded context whose log holds each aggregate module's events."""
CONTEXTS = ("catalog", "inventory", "carts", "customers", "orders")


def context_of(topic: str) -> str:
    """The context of an event's topic, `domain.order:Order.Placed` -> `orders`."""
    return CONTEXT_OF_MODULE.get(topic.partition(":")[0], "unknown")


@dataclass(frozen=True)
class LogQuery:
    """Which events of a log to read: after a position, up to one, and filtered.

    Every filter is optional; time bounds are inclusive since and exclusive until.
    """

    after: int = 0
    until_position: int | None = None
    event_type: str | None = None
    """`Order.Placed`: the event class as the API shows it."""
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    stream_id: UUID | None = None


@dataclass(frozen=True, order=True)
class TracePoint:
    """A place in a trace: an event's time, log and position. A trace runs in this order, and
    a page of it ends at the point of its last event (its cursor, encoded)."""

    at: datetime
    log: str
    position: int

    def encode(self) -> str:
        """The point as an opaque cursor."""
        text = json.dumps([self.at.isoformat(), self.log, self.position])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> TracePoint:
        """The point a cursor names; ValueError if it names none."""
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            at, log, position = json.loads(text)
            point = cls(datetime.fromisoformat(at), log, position)
        except (ValueError, TypeError, binascii.Error) as error:
            raise ValueError(f"not a trace cursor: {cursor!r}") from error
        if point.at.utcoffset() is None or not isinstance(log, str):
            raise ValueError(f"not a trace cursor: {cursor!r}")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise ValueError(f"not a trace cursor: {cursor!r}")
        return point


@dataclass(frozen=True)
class StreamQuery:
    """Which events of one aggregate to read: after a version, up to one (inclusive)."""

    after_version: int = -1
    to_version: int | None = None


WHOLE_STREAM = StreamQuery()
"""From the first version to the last."""


class EventReader(Protocol):
    """Reads the event logs for audit; never writes. Positions are the store's own."""

    logs: tuple[str, ...]
    """The logs it reads, by name (a context, or the single shared log)."""
    decoder: EventDecoder
    """Decodes what it reads, with the store's data keys for sealed personal data."""

    def stream(self, stream_id: UUID, query: StreamQuery, limit: int) -> list[Recorded]:
        """Up to limit events of one aggregate that match query, in version order; empty if
        there are none (or no such aggregate)."""
        ...

    def log(self, name: str, query: LogQuery, limit: int) -> list[Recorded]:
        """Up to limit events of the named log that match query, in position order."""
        ...

    def head(self, name: str) -> int:
        """The position of the named log's last event (0 when empty)."""
        ...

    def chain_hashes(self, log: str, positions: Sequence[int]) -> dict[int, str]:
        """The chain hash (hex) of each event of the log at positions, where its store keeps
        a hash chain (infra.audit); none otherwise."""
        ...

    def correlated(
        self, correlation_id: str, limit: int, after: TracePoint | None = None
    ) -> list[Recorded]:
        """Up to limit events of every log that carry this correlation id, after the point
        given, in trace order (TracePoint: time, log, position)."""
        ...

    def close(self) -> None:
        """Release its connections."""
        ...
