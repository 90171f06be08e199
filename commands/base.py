"""The application base shared by every bounded context: load, decide, append, retry."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, RecordConflictError
from eventsourcing.utils import Environment, strtobool

from commands.errors import StaleVersion, TooMuchContention
from commands.group_commit import GroupCommitter
from commands.written import WrittenAggregates
from domain.base import MarketplaceAggregate
from domain.errors import DomainError, NotFound

T = TypeVar("T", bound=MarketplaceAggregate)

LOCK_STRIPES = 1024
RECENT_SECONDS = 1.0
RECENT_CACHE_SIZE = 50_000
GROUP_COMMIT = "GROUP_COMMIT"
"""Environment key: "n" for stores that cannot append to several streams atomically."""


@dataclass(frozen=True)
class Outcome:
    """What a command did: the aggregate, its new version and the log position of its last event."""

    aggregate_id: UUID
    version: int
    log: str
    position: int | None


class ContextApplication(Application[UUID]):
    """One bounded context's application, writing to its own event log.

    The environment is given, never read from the process: the composition root builds it.
    Appends to one stream are serialised inside the process by striped locks, and a
    conflict with another process is retried with jittered backoff until a deadline.
    """

    name = "context"
    conflict_deadline_seconds = 10.0

    def __init__(
        self,
        env: Mapping[str, str],
        log_name: str | None = None,
        shared_recorder: ApplicationRecorder | None = None,
    ) -> None:
        self.log_name = log_name or self.name
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._shared_recorder = shared_recorder
        super().__init__(env=dict(env))
        self._group_commit = strtobool(self.env.get(GROUP_COMMIT, "y"))
        self._committer = GroupCommitter(self.save)
        self._written = WrittenAggregates()
        self._recent: dict[UUID, tuple[float, MarketplaceAggregate]] = {}

    def construct_recorder(self) -> ApplicationRecorder:
        """The recorder of this context's log, or the one shared by contexts writing one log."""
        return self._shared_recorder or super().construct_recorder()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """Use only the given environment, named for this context's log."""
        values = dict(type(self).env)
        values.update(env or {})
        return Environment(self.log_name, values)

    def load(self, aggregate_id: UUID, kind: type[T]) -> T:
        """Load an aggregate of the given type, or raise NotFound."""
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{kind.__name__.lower()} {aggregate_id} does not exist") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{kind.__name__.lower()} {aggregate_id} does not exist")
        return aggregate

    def recent(self, aggregate_id: UUID, kind: type[T]) -> T:
        """The aggregate as read from the store at most RECENT_SECONDS ago; do not change it.

        For checks on aggregates other than the one a command changes (is the product
        listed, is the seller active), where a moment's staleness is acceptable. A change
        made through this process is seen at once; one made elsewhere within RECENT_SECONDS.
        """
        now = time.monotonic()
        seen = self._recent.get(aggregate_id)
        if seen is not None and now - seen[0] < RECENT_SECONDS and isinstance(seen[1], kind):
            return seen[1]
        aggregate = self.load(aggregate_id, kind)
        if len(self._recent) >= RECENT_CACHE_SIZE:
            self._recent.clear()
        self._recent[aggregate_id] = (now, aggregate)
        return aggregate

    def create(self, aggregate: MarketplaceAggregate) -> Outcome:
        """Append a new aggregate's events; a second create of the same id conflicts."""
        return self._save(aggregate)

    def change(
        self,
        aggregate_id: UUID,
        kind: type[T],
        decide: Callable[[T], Any],
        expected_version: int | None = None,
    ) -> Outcome:
        """Apply decide() to the aggregate and append its new events.

        The copy this process last wrote is used without reading the store, while such
        copies are rarely stale (see WrittenAggregates). If another process has written
        since, the append conflicts or decide() refuses on old state: either way the
        aggregate is reloaded (cached copy plus newer events) and decide() runs again.
        Only answers given on fresh state are final. Real contention is retried with
        jittered backoff until conflict_deadline_seconds have passed.
        """
        deadline = time.monotonic() + self.conflict_deadline_seconds
        attempt = 0
        with self._lock_for(aggregate_id):
            cached = self._written.take(aggregate_id)
            while True:
                fresh = not isinstance(cached, kind)
                aggregate: T = cached if isinstance(cached, kind) else self.load(aggregate_id, kind)
                cached = None
                try:
                    if expected_version is not None and aggregate.version != expected_version:
                        raise StaleVersion(expected_version, aggregate.version)
                    decide(aggregate)
                    outcome = self._save(aggregate)
                except (DomainError, StaleVersion):
                    if fresh:
                        raise
                    self._written.report(stale=True)
                    continue
                except RecordConflictError:
                    if not fresh:
                        self._written.report(stale=True)
                        continue
                    if expected_version is not None:
                        current = self.load(aggregate_id, kind).version
                        raise StaleVersion(expected_version, current) from None
                    attempt += 1
                    if time.monotonic() >= deadline:
                        raise TooMuchContention(str(aggregate_id)) from None
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
                    continue
                if not fresh:
                    self._written.report(stale=False)
                self._written.put(aggregate_id, aggregate)
                return outcome

    def _save(self, aggregate: MarketplaceAggregate) -> Outcome:
        self._recent.pop(aggregate.id, None)
        events = aggregate.collect_events()
        if not events:
            recordings = []
        elif self._group_commit:
            recordings = self._committer.append(events)
        else:
            recordings = self.save(*events)
        position = recordings[-1].notification.id if recordings else None
        return Outcome(aggregate.id, aggregate.version, self.log_name, position)

    def _lock_for(self, aggregate_id: UUID) -> threading.Lock:
        return self._locks[aggregate_id.int % LOCK_STRIPES]
