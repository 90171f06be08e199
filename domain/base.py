"""Shared aggregate base: version 0 streams and audit metadata on every event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

EVENT_ID_NAMESPACE = UUID("6f0d0f6e-8a52-4f3e-9a8e-2f4c7f0b8d11")

A = TypeVar("A", bound="MarketplaceAggregate")


@dataclass(frozen=True)
class Context:
    """Who acts, when, and as part of which request; passed into every domain method."""

    at: datetime
    actor: str
    role: str
    request_id: str
    correlation_id: str
    causation_id: str

    def meta_for(self, originator_id: UUID, version: int) -> dict[str, str]:
        """The audit metadata stored inside the event at (originator_id, version)."""
        return {
            "event_id": str(event_id(originator_id, version)),
            "actor": self.actor,
            "role": self.role,
            "request_id": self.request_id,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
        }


@dataclass(frozen=True)
class Cause:
    """What a command the platform issues itself answers to: the id of the event (or request)
    that caused it, and the correlation id of the request that started the flow."""

    causation_id: str
    correlation_id: str

    @classmethod
    def of(cls, event: Any) -> Cause:
        """The cause an event gives what follows from it: its own id, and its flow's
        correlation id (its own id for an event that carries none, so a flow never loses it)."""
        meta: dict[str, str] = getattr(event, "meta", None) or {}
        cause = meta.get("event_id") or str(event_id(event.originator_id, event.originator_version))
        return cls(cause, meta.get("correlation_id") or cause)

    def context(self, at: datetime, actor: str) -> Context:
        """The context of a command the platform (role "system") issues for this cause.

        Its request id is the causing event's id: the event is what the worker handles.
        """
        return Context(
            at=at,
            actor=actor,
            role="system",
            request_id=self.causation_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )


def event_id(originator_id: UUID, version: int) -> UUID:
    """A stable, unique event id derived from the event's stream and version."""
    return uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{version}")


class MarketplaceAggregate(Aggregate):
    """An aggregate whose stream starts at version 0 and whose events carry audit metadata."""

    INITIAL_VERSION = 0

    class Event(Aggregate.Event):
        """A change of an aggregate. Its class_version says which shape of its fields it
        has; a changed event bumps it and adds upcast_vN_vN+1 (tests/evolution/README.md)."""

        class_version = 1
        meta: dict[str, str]

        @property
        def occurred_at(self) -> datetime:
            """When the event happened, as given by the command's context."""
            return self.timestamp

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _start(cls: type[A], event_class: type[Any], id: UUID, ctx: Context, **fields: Any) -> A:
        return cls._create(
            event_class,
            id=id,
            timestamp=ctx.at,
            meta=ctx.meta_for(id, cls.INITIAL_VERSION),
            **fields,
        )

    def _emit(self, event_class: type[Any], ctx: Context, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=ctx.at,
            meta=ctx.meta_for(self.id, self.version + 1),
            **fields,
        )
