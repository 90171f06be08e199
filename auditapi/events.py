"""An event as an auditor reads it: decoded to plain JSON, the same from every event store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from infra.personal.keys import KeyStore
from infra.personal.mapper import PersonalTranscoder

METADATA_KEYS = ("actor", "role", "request_id", "correlation_id", "causation_id", "event_id")
"""The audit metadata every event carries (domain.base.Context.meta_for)."""


@dataclass(frozen=True)
class Recorded:
    """A stored event and where it is: its log (context) and its position there."""

    log: str
    position: int
    stored: StoredEvent

    @property
    def stream_id(self) -> UUID:
        """The aggregate whose stream holds it."""
        return UUID(str(self.stored.originator_id))

    @property
    def type(self) -> str:
        """The event class as `Aggregate.Event` (its topic without the module)."""
        return event_type(self.stored.topic)


def event_type(topic: str) -> str:
    """`Order.Placed` for the topic `domain.order:Order.Placed`."""
    return topic.rpartition(":")[2]


def transcoder() -> JSONTranscoder:
    """The transcoder the writers use (the library's JSON with UUIDs, decimals and datetimes)."""
    json = JSONTranscoder()
    json.register(UUIDAsHex())
    json.register(DecimalAsStr())
    json.register(DatetimeAsISO())
    return json


def mapper(keys: KeyStore | None = None) -> Mapper[UUID]:
    """Turns stored events back into domain events (for replaying an aggregate), with their
    sealed personal data opened with keys (ERASED once a person's key is erased)."""
    json = transcoder()
    return Mapper(transcoder=json if keys is None else PersonalTranscoder(json, keys))


def plain(value: Any) -> Any:
    """value as plain JSON: ids with dashes, times in ISO 8601, decimals as strings."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "__dict__"):
        return plain(vars(value))
    return str(value)


class EventDecoder:
    """Decodes recorded events into the audit API's JSON, personal data opened with keys (the
    event store's data keys, infra.personal) where events are sealed."""

    def __init__(self, keys: KeyStore | None = None) -> None:
        self.mapper = mapper(keys)
        self._transcoder = self.mapper.transcoder

    def document(self, recorded: Recorded, chain_hash: str | None = None) -> dict[str, Any]:
        """The event as JSON: where it is, what it is, its payload and its audit metadata."""
        state: dict[str, Any] = dict(self._transcoder.decode(recorded.stored.state))
        state.pop("class_version", None)
        meta = state.pop("meta", None) or {}
        timestamp = state.pop("timestamp", None)
        return {
            "log": recorded.log,
            "position": recorded.position,
            "stream_id": str(recorded.stream_id),
            "version": recorded.stored.originator_version,
            "type": recorded.type,
            "timestamp": plain(timestamp),
            "payload": plain(state),
            "metadata": {key: meta.get(key) or None for key in METADATA_KEYS},
            "chain_hash": chain_hash,
        }
