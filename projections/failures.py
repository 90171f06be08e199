"""What a worker does when a batch fails: every error is transient, poison or a bug.

- transient: a store is unavailable for now (connection lost, timeout, out of memory, a
  read-only replica, a cluster slot moved, a serialization failure or deadlock). The batch
  is retried with backoff, and each retry is logged and counted.
- poison: one event cannot be applied (it cannot be decoded, its handler raises on it, or a
  store refuses the data it holds). The projection's Policy says what happens: STOP at it,
  or PARK it in the dead letters and go on.
- bug: anything else (a store refusing the statement itself, a missing table). That one
  process stops, with the error recorded where `marketplace status` reads it.

A PostgreSQL error is classified by its SQLSTATE class, not by the Python exception psycopg
maps it to: psycopg's OperationalError covers connection loss (class 08) but also "index row
size exceeds maximum" (54000), which no retry can fix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

import psycopg
import redis
from eventsourcing.persistence import PersistenceError
from eventsourcing.utils import get_topic
from opensearchpy.exceptions import OpenSearchException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_never,
    stop_when_event_set,
    wait_random_exponential,
)

from domain.base import event_id
from projections.log import Undecodable

T = TypeVar("T")


class Kind(StrEnum):
    """What kind of failure an error is (see the module's docstring)."""

    TRANSIENT = "transient"
    POISON = "poison"
    BUG = "bug"


class Policy(StrEnum):
    """What a projection does with a poison event."""

    STOP = "stop"
    """Stop at the event, its position and error recorded; retried on each restart."""
    PARK = "park"
    """Record the event in the dead letters and go on past it."""


class State(StrEnum):
    """Where a recorded failure stands."""

    STOPPED = "stopped"
    """The projection stopped at it and retries it on each start."""
    PARKED = "parked"
    """The projection went on past it; `marketplace deadletters retry` applies it later."""
    RETRIED = "retried"
    """Applied since, by the projection after a restart or by a retry."""
    SKIPPED = "skipped"
    """Skipped on purpose, with who skipped it and why."""


TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""Connection exception, transaction rollback (serialization failure, deadlock), insufficient
resources (disk full, out of memory, too many connections), operator intervention (shutdown,
query cancelled by statement_timeout), system error (I/O)."""
TRANSIENT_SQLSTATES = frozenset({"25006", "25P03", "25P04", "55006", "55P03"})
"""A read-only transaction (a hot standby, a failover under way), idle and transaction
timeouts, an object in use, a lock not available."""
BUG_SQLSTATES = frozenset({"57P04", "58P01", "58P02"})
"""In the classes above, but not passing: the database was dropped, a file is missing or
duplicated."""
POISON_SQLSTATE_CLASSES = frozenset({"22", "54"})
"""Data exception (a value out of range, bad text) and program limit exceeded (an index row or
a statement too large): the event's data, not the store, is at fault."""
STORE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.Error,
    redis.RedisError,
    OpenSearchException,
    PersistenceError,
)
"""A store's own errors: unless transient (or a data error), they are bugs, whichever event
was being applied. Any other error raised while applying an event is the event's poison."""


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of error, or of the error it was raised from (a library's wrapper)."""
    seen: BaseException | None = error
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state:
            return state
        seen = seen.__cause__
    return None


def classify(error: BaseException, transient: tuple[type[BaseException], ...]) -> Kind:
    """The kind of error, raised while applying events; transient lists the stores' own.

    An error with a SQLSTATE is classified by it alone. Otherwise, an instance of transient is
    transient, a store's other errors are bugs, and anything else is poison.
    """
    state = sqlstate(error)
    if state is not None:
        if state in BUG_SQLSTATES:
            return Kind.BUG
        if state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES:
            return Kind.TRANSIENT
        return Kind.POISON if state[:2] in POISON_SQLSTATE_CLASSES else Kind.BUG
    if isinstance(error, transient):
        return Kind.TRANSIENT
    if isinstance(error, STORE_ERRORS):
        return Kind.BUG
    return Kind.POISON


def is_transient(error: BaseException, transient: tuple[type[BaseException], ...]) -> bool:
    """Whether classify() calls error transient."""
    return classify(error, transient) is Kind.TRANSIENT


def describe(error: BaseException, limit: int = 2000) -> str:
    """The error as one line of text for a person: its type and message, cut at limit."""
    text = f"{type(error).__name__}: {error}".replace("\n", " ").strip()
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


@dataclass(frozen=True)
class FailureSite:
    """Where a failure happened: in which projection, at which position of which log, on
    which event.

    stream is the event's originator id and version; a bug names no event (empty strings).
    """

    projection: str
    log: str
    position: int
    event_id: str
    stream: str
    topic: str


@dataclass(frozen=True)
class Failed(FailureSite):
    """One failure as a worker meets it: where, on which event, of which kind and why."""

    kind: Kind
    error: str

    @classmethod
    def at(
        cls, projection: str, kind: Kind, log: str, position: int, event: Any, error: object
    ) -> Failed:
        """The failure on event (a domain event, an Undecodable or None) at that position."""
        stream = topic = event_key = ""
        if event is not None:
            originator, version = event.originator_id, event.originator_version
            stream = f"{originator}/{version}"
            event_key = str(event_id(cast(UUID, originator), version))
            topic = event.topic if isinstance(event, Undecodable) else get_topic(type(event))
        reason = describe(error) if isinstance(error, BaseException) else str(error)
        return cls(projection, log, position, event_key, stream, topic, kind, reason)


class PositionMoved(Exception):
    """The view's stored position is not where this worker left it.

    The store lost its data (a Redis restarted without persistence) or another worker
    wrote: the worker rereads the positions and carries on from there, rebuilding from
    the start of the log if the view is empty.
    """


class ViewVersionMoved(PositionMoved):
    """The view's writers were moved to another version of it (a rebuild switched them).

    Nothing of the batch was written: the worker rereads the positions, which resolves the
    version writers now use, and carries on there from that version's own positions.
    """


class ProjectionStopped(Exception):
    """The worker stopped on a failure (recorded, if it has a failure book)."""

    def __init__(self, failed: Failed) -> None:
        where = f"{failed.log} {failed.position}" if failed.log else "start"
        super().__init__(f"{failed.projection} stopped at {where} ({failed.kind}): {failed.error}")
        self.failed = failed


class EventUndecodable(Exception):
    """The event cannot be decoded yet (its stored topic or document is still broken)."""


class FailureBook(Protocol):
    """Where a worker records its failures, so that they outlive it: the dead letters."""

    transient_errors: tuple[type[BaseException], ...]

    def record(self, failed: Failed, state: State) -> None:
        """Record the failure in that state (again: one more attempt, the latest error)."""

    def skipped(self, projection: str, log: str, position: int) -> bool:
        """Whether an operator skipped the event at that position of the log."""

    def stopped(self, projection: str) -> list[tuple[str, int]]:
        """The (log, position) of each failure the projection is stopped at."""

    def passed(self, projection: str, log: str, position: int) -> None:
        """The projection got past position in log: its stops up to there are retried."""

    def parked_count(self, projection: str) -> int:
        """How many of the projection's events are parked."""


def retrying(
    step: Callable[[], T],
    transient: tuple[type[BaseException], ...],
    stop: threading.Event | None,
    note: Callable[[RetryCallState], None],
) -> T:
    """step(), retried with capped, jittered backoff while it fails transiently.

    note is called before each wait; a stop set meanwhile ends the waits, and the last error
    is raised. Without a stop, it retries until step succeeds or fails otherwise.
    """

    def pause(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        else:
            stop.wait(seconds)

    attempts = Retrying(
        retry=retry_if_exception(lambda error: classify(error, transient) is Kind.TRANSIENT),
        wait=wait_random_exponential(multiplier=0.05, max=5.0),
        stop=stop_never if stop is None else stop_when_event_set(stop),
        sleep=pause,
        before_sleep=note,
        reraise=True,
    )
    result: T = attempts(step)
    return result
