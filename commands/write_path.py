"""The write path as a strategy: how a context application turns changes into appends.

The composition root picks one and hands it to the applications; commands/ only receives
it. The production one is commands.stream_batch.BatchedWritePath.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from commands.errors import StaleVersion, TooMuchContention
from domain.base import MarketplaceAggregate
from domain.errors import NotFound

if TYPE_CHECKING:
    from commands.base import ContextApplication

R = TypeVar("R")

CONFLICT_WAIT = wait_random_exponential(multiplier=0.002, max=0.05)
"""Jittered exponential waits between conflicting appends: up to 2, 4, 8 ... 50 ms."""


@dataclass(frozen=True)
class Outcome:
    """What a command did: the aggregate, its new version and the log position of its last event."""

    aggregate_id: UUID
    version: int
    log: str
    position: int | None


class WritePath(Protocol):
    """How one application appends: changes of existing aggregates, and plain appends."""

    def change(self, aggregate_id: UUID, change: Change) -> Outcome:
        """Load the aggregate, apply the change, append its events; the outcome."""
        ...

    def append(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Append events (of one aggregate) atomically; their recordings."""
        ...


WritePathFactory = Callable[["ContextApplication"], WritePath]
"""Builds an application's write path once the application (and its recorder) exists."""


@dataclass
class Change:
    """One caller's change, and where its events fell in the append that carried it."""

    kind: type[Any]
    decide: Callable[[Any], Any]
    expected_version: int | None
    first: int = 0
    end: int = 0
    version: int = 0

    def apply(self, aggregate: MarketplaceAggregate) -> None:
        """Check kind and expected version, then run decide() on the aggregate."""
        if not isinstance(aggregate, self.kind):
            raise NotFound(f"{self.kind.__name__.lower()} {aggregate.id} does not exist")
        if self.expected_version is not None and aggregate.version != self.expected_version:
            raise self.stale(aggregate)
        self.decide(aggregate)

    def stale(self, aggregate: MarketplaceAggregate) -> StaleVersion:
        """The error for a client whose expected version the aggregate has moved past."""
        assert self.expected_version is not None
        return StaleVersion(self.expected_version, aggregate.version)

    def mark(self, first: int, end: int, version: int) -> None:
        """Note the slice of the append's events that are this change's, and the version."""
        self.first, self.end, self.version = first, end, version

    def outcome(self, aggregate_id: UUID, log: str, recordings: list[Recording[UUID]]) -> Outcome:
        """The outcome of this change, given the recordings of the append that carried it."""
        position = recordings[self.end - 1].notification.id if self.end > self.first else None
        return Outcome(aggregate_id, self.version, log, position)


def retry_conflicts(attempt: Callable[[], R], seconds: float, aggregate_id: UUID) -> R:
    """attempt(), again after each RecordConflictError, until seconds have passed.

    The waits are jittered and exponential (CONFLICT_WAIT); past the deadline the caller
    gets TooMuchContention. The first attempt runs before tenacity is set up, so a change
    that meets no conflict pays nothing for the retries.
    """
    started = time.monotonic()
    try:
        return attempt()
    except RecordConflictError as error:
        first: RecordConflictError | None = error

    def again() -> R:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error  # the first attempt's conflict: tenacity waits before the second
        return attempt()

    def give_up(state: RetryCallState) -> R:
        raise TooMuchContention(str(aggregate_id))

    retrying = Retrying(
        stop=stop_after_delay(max(0.0, seconds - (time.monotonic() - started))),
        wait=CONFLICT_WAIT,
        retry=retry_if_exception_type(RecordConflictError),
        retry_error_callback=give_up,
    )
    return retrying(again)
