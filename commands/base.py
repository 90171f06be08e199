"""The application base shared by every bounded context: load, decide, append, retry."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, RecordConflictError, Recording
from eventsourcing.utils import Environment, strtobool

from commands.errors import StaleVersion, TooMuchContention
from commands.group_commit import GroupCommitter
from commands.stream_batch import Queued, StreamBatcher
from commands.written import WrittenAggregates
from domain.base import MarketplaceAggregate
from domain.errors import DomainError, NotFound

T = TypeVar("T", bound=MarketplaceAggregate)

LOAD_LOCK_STRIPES = 1024
RECENT_SECONDS = 1.0
RECENT_CACHE_SIZE = 50_000
GROUP_COMMIT = "GROUP_COMMIT"
"""Environment key: "n" for stores that cannot append to several streams atomically."""
WRITE_PATH = "WRITE_PATH"
"""Environment key: "naive" for plain optimistic concurrency with retries (benchmarks)."""


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
    Changes of one stream are batched inside the process (one load, one append per
    batch), and a conflict with another process is retried with jittered backoff until
    a deadline.
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
        self._shared_recorder = shared_recorder
        self._load_locks = [threading.Lock() for _ in range(LOAD_LOCK_STRIPES)]
        super().__init__(env=dict(env))
        self._group_commit = strtobool(self.env.get(GROUP_COMMIT, "y"))
        self._naive = self.env.get(WRITE_PATH, "batched") == "naive"
        self._committer = GroupCommitter(self.save)
        self._batcher = StreamBatcher(self._run_batch)
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
        """Load an aggregate of the given type, or raise NotFound.

        Loads of one aggregate are serialised: the library's cache fast-forwards its copy
        in place and deep-copies it outside its lock, which races with a concurrent load.
        """
        try:
            with self._load_locks[aggregate_id.int % LOAD_LOCK_STRIPES]:
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

        Concurrent changes of one aggregate in this process run as one batch: one load,
        each decide() in turn, one append (see StreamBatcher). The copy this process last
        wrote is used without reading the store, while such copies are rarely stale (see
        WrittenAggregates). If another process has written since, the append conflicts or
        a decide() refuses on old state: either way the aggregate is reloaded and the batch
        runs again. Only answers given on fresh state are final. Real contention is retried
        with jittered backoff until conflict_deadline_seconds have passed.

        With WRITE_PATH=naive every change loads, decides and appends on its own and
        retries on conflict: plain optimistic concurrency, kept for comparison.
        """
        change = _Change(kind, decide, expected_version)
        if self._naive:
            return self._change_alone(aggregate_id, change)
        outcome: Outcome = self._batcher.submit(aggregate_id, change)
        return outcome

    def _change_alone(self, aggregate_id: UUID, change: _Change) -> Outcome:
        backoff = _Backoff(self.conflict_deadline_seconds, aggregate_id)
        while True:
            aggregate = self.load(aggregate_id, change.kind)
            change.apply(aggregate)
            try:
                return self._save(aggregate)
            except RecordConflictError:
                if change.expected_version is not None:
                    raise change.stale(self.load(aggregate_id, change.kind)) from None
                backoff.wait()

    def _run_batch(self, key: Hashable, batch: list[Queued]) -> None:
        aggregate_id = cast(UUID, key)
        kind = cast(_Change, batch[0].work).kind
        backoff = _Backoff(self.conflict_deadline_seconds, aggregate_id)
        remaining = list(batch)
        cached = self._written.take(aggregate_id)
        while remaining:
            fresh = not isinstance(cached, kind)
            try:
                aggregate = cached if isinstance(cached, kind) else self.load(aggregate_id, kind)
            except NotFound as error:
                for queued in remaining:
                    queued.error = error
                return
            cached = None
            decided = self._decide_batch(aggregate, remaining, fresh)
            if decided is _Decided.RELOAD:
                continue
            try:
                recordings = self._append(aggregate)
            except RecordConflictError:
                if not fresh:
                    self._written.report(stale=True)
                    continue
                stale = [q for q in remaining if cast(_Change, q.work).expected_version is not None]
                for queued in stale:
                    queued.error = cast(_Change, queued.work).stale(self.load(aggregate_id, kind))
                    remaining.remove(queued)
                if remaining:
                    backoff.wait()
                continue
            if not fresh:
                self._written.report(stale=False)
            self._written.put(aggregate_id, aggregate)
            for queued in remaining:
                if queued.error is None:
                    queued.result = cast(_Change, queued.work).outcome(
                        aggregate_id, self.log_name, recordings
                    )
            return

    def _decide_batch(
        self, aggregate: MarketplaceAggregate, batch: list[Queued], fresh: bool
    ) -> _Decided:
        """Run each change's decide() in turn on aggregate; RELOAD means: load and run again.

        A refusal on a cached copy is checked against the store once: if the store has
        nothing newer, the copy was current and the refusal stands. A change that failed
        after raising events leaves the aggregate half-changed: it is answered with its
        error and the others run again on a fresh load.
        """
        base_version = aggregate.version
        for queued in batch:
            queued.error = None
            change = cast(_Change, queued.work)
            before = len(aggregate.pending_events)
            try:
                change.apply(aggregate)
            except (DomainError, StaleVersion) as error:
                if not fresh:
                    if self.load(aggregate.id, type(aggregate)).version != base_version:
                        self._written.report(stale=True)
                        return _Decided.RELOAD
                    fresh = True
                queued.error = error
            except Exception as error:
                queued.error = error
            if queued.error is not None and len(aggregate.pending_events) != before:
                batch.remove(queued)
                return _Decided.RELOAD
            change.mark(before, len(aggregate.pending_events), aggregate.version)
        return _Decided.DONE

    def _save(self, aggregate: MarketplaceAggregate) -> Outcome:
        recordings = self._append(aggregate)
        position = recordings[-1].notification.id if recordings else None
        return Outcome(aggregate.id, aggregate.version, self.log_name, position)

    def _append(self, aggregate: MarketplaceAggregate) -> list[Recording[UUID]]:
        self._recent.pop(aggregate.id, None)
        events = aggregate.collect_events()
        if not events:
            return []
        if self._group_commit and not self._naive:
            return self._committer.append(events)
        return self.save(*events)


class _Decided(Enum):
    DONE = "done"
    RELOAD = "reload"


@dataclass
class _Change:
    """One caller's change in a batch, and where its events fell in the batch's append."""

    kind: type[Any]
    decide: Callable[[Any], Any]
    expected_version: int | None
    first: int = 0
    end: int = 0
    version: int = 0

    def apply(self, aggregate: MarketplaceAggregate) -> None:
        if not isinstance(aggregate, self.kind):
            raise NotFound(f"{self.kind.__name__.lower()} {aggregate.id} does not exist")
        if self.expected_version is not None and aggregate.version != self.expected_version:
            raise self.stale(aggregate)
        self.decide(aggregate)

    def stale(self, aggregate: MarketplaceAggregate) -> StaleVersion:
        assert self.expected_version is not None
        return StaleVersion(self.expected_version, aggregate.version)

    def mark(self, first: int, end: int, version: int) -> None:
        self.first, self.end, self.version = first, end, version

    def outcome(self, aggregate_id: UUID, log: str, recordings: list[Recording[UUID]]) -> Outcome:
        position = recordings[self.end - 1].notification.id if self.end > self.first else None
        return Outcome(aggregate_id, self.version, log, position)


class _Backoff:
    """Jittered exponential waits between conflicting appends, until a deadline."""

    def __init__(self, seconds: float, aggregate_id: UUID) -> None:
        self._deadline = time.monotonic() + seconds
        self._aggregate_id = aggregate_id
        self._attempt = 0

    def wait(self) -> None:
        """Sleep before the next attempt, or raise TooMuchContention past the deadline."""
        self._attempt += 1
        if time.monotonic() >= self._deadline:
            raise TooMuchContention(str(self._aggregate_id))
        time.sleep(random.uniform(0, min(0.05, 0.001 * 2**self._attempt)))
