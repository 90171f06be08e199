"""Given events, when command, then events or error: a tiny harness for domain unit tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from domain.base import Context, MarketplaceAggregate, event_id
from domain.errors import DomainError

A = TypeVar("A", bound=MarketplaceAggregate)

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=15)

CTX = Context(
    at=AT,
    actor="user-7",
    role="seller",
    request_id="req-1",
    correlation_id="corr-1",
    causation_id="cause-1",
)

BASE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
)

Step = tuple[Any, ...]


def ctx_at(at: datetime, **changes: str) -> Context:
    """The shared test context at another moment, optionally with other audit values."""
    return replace(CTX, at=at, **changes)


def uid(n: int) -> UUID:
    """A fixed, readable UUID."""
    return UUID(int=n)


def history(aggregate: A, *steps: Step, ctx: Context = CTX) -> list[Any]:
    """Record events by running (method, *args) steps on a freshly created aggregate."""
    for method, *args in steps:
        method(aggregate, *args, ctx=ctx)
    return list(aggregate.collect_events())


def given(aggregate_class: type[A], *events: Any) -> A:
    """Reconstruct an aggregate by replaying previously recorded events, as a repository does."""
    assert events, "given() needs at least the created event"
    assert events[0].originator_version == aggregate_class.INITIAL_VERSION == 0
    aggregate: Any = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert type(aggregate) is aggregate_class
    assert aggregate.version == events[-1].originator_version
    assert aggregate.pending_events == []
    return aggregate


@dataclass
class Outcome:
    """What one command did: the events it triggered, or the domain error it raised."""

    aggregate: Any
    ctx: Context
    first_version: int
    before: Any = None
    events: list[Any] = field(default_factory=list)
    error: DomainError | None = None


def when(aggregate: A, command: Callable[..., Any], *args: Any, ctx: Context = CTX) -> Outcome:
    """Call one command method (unbound, e.g. ``Cart.add_item``) on a given aggregate."""
    assert aggregate.pending_events == []
    before = copy.deepcopy(aggregate)
    outcome = Outcome(aggregate, ctx, aggregate.version + 1, before)
    try:
        command(aggregate, *args, ctx=ctx)
    except DomainError as error:
        outcome.error = error
    outcome.events = list(aggregate.collect_events())
    return outcome


def when_created(factory: Callable[..., Any], *args: Any, ctx: Context = CTX) -> Outcome:
    """Call a creating class method (e.g. ``Seller.register``) with the context."""
    outcome = Outcome(None, ctx, MarketplaceAggregate.INITIAL_VERSION)
    try:
        outcome.aggregate = factory(*args, ctx=ctx)
    except DomainError as error:
        outcome.error = error
    else:
        outcome.events = list(outcome.aggregate.collect_events())
    return outcome


def event(event_class: type, /, **fields: Any) -> tuple[type, dict[str, Any]]:
    """An expected event: its exact class and all of its own (non-base) fields."""
    return event_class, fields


def fields_of(domain_event: Any) -> dict[str, Any]:
    """The event's own fields, without originator id/version, timestamp, topic and meta."""
    return {k: v for k, v in vars(domain_event).items() if k not in BASE_FIELDS}


def expected_meta(ctx: Context, originator_id: UUID, version: int) -> dict[str, str]:
    """The audit metadata an event at (originator_id, version) must carry."""
    return {
        "event_id": str(event_id(originator_id, version)),
        "actor": ctx.actor,
        "role": ctx.role,
        "request_id": ctx.request_id,
        "correlation_id": ctx.correlation_id,
        "causation_id": ctx.causation_id,
    }


def then(outcome: Outcome, *expected: tuple[type, dict[str, Any]]) -> None:
    """Assert the command triggered exactly these events (none if nothing is expected)."""
    assert outcome.error is None, f"unexpected {type(outcome.error).__name__}: {outcome.error}"
    got = [(type(e), fields_of(e)) for e in outcome.events]
    assert got == list(expected)
    aggregate = outcome.aggregate
    for offset, domain_event in enumerate(outcome.events):
        version = outcome.first_version + offset
        assert domain_event.originator_id == aggregate.id
        assert domain_event.originator_version == version
        assert domain_event.timestamp == outcome.ctx.at
        assert domain_event.meta == expected_meta(outcome.ctx, aggregate.id, version)
    if outcome.events:
        assert aggregate.version == outcome.events[-1].originator_version
    replayed = copy.deepcopy(outcome.before)
    for domain_event in outcome.events:
        replayed = domain_event.mutate(replayed)
    assert replayed == aggregate, "state changed outside the triggered events"


def then_error(outcome: Outcome, error_class: type[DomainError], match: str = "") -> None:
    """Assert the command raised exactly this domain error and left the aggregate unchanged."""
    assert outcome.error is not None, f"expected {error_class.__name__}, got {outcome.events}"
    assert type(outcome.error) is error_class, repr(outcome.error)
    assert match in str(outcome.error)
    assert outcome.events == []
    if outcome.before is not None:
        assert outcome.aggregate == outcome.before, "a refused command changed the aggregate"
