"""The application base shared by every bounded context: load, decide, append."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import structlog
from cachetools import TTLCache
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, EventStore, Recording
from eventsourcing.utils import Environment

from commands.snapshots import (
    SNAPSHOT_EVERY,
    StateSnapshot,
    UsableSnapshots,
    creation_topics,
    due,
    short_replay,
)
from commands.stream_batch import BatchedWritePath
from commands.write_path import Change, Outcome, WritePathFactory
from domain.base import MarketplaceAggregate
from domain.errors import NotFound

T = TypeVar("T", bound=MarketplaceAggregate)
log = structlog.get_logger()

LOAD_LOCK_STRIPES = 1024
RECENT_SECONDS = 1.0
RECENT_CACHE_SIZE = 50_000


class ContextApplication(Application[UUID]):
    """One bounded context's application, writing to its own event log.

    The environment is given, never read from the process: the composition root builds it,
    and picks the write path (how changes become appends; BatchedWritePath unless told).
    """

    name = "context"
    conflict_deadline_seconds = 10.0
    snapshotted: ClassVar[tuple[type[MarketplaceAggregate], ...]] = ()
    """This context's aggregates whose streams grow without bound: with SNAPSHOT_EVERY set in
    the environment, each is snapshotted at every version divisible by it (commands.snapshots)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_name: str | None = None,
        shared_recorder: ApplicationRecorder | None = None,
        write_path: WritePathFactory = BatchedWritePath,
    ) -> None:
        self.log_name = log_name or self.name
        self._shared_recorder = shared_recorder
        self._load_locks = [threading.Lock() for _ in range(LOAD_LOCK_STRIPES)]
        self._recent: TTLCache[UUID, MarketplaceAggregate] = TTLCache(
            RECENT_CACHE_SIZE, RECENT_SECONDS
        )
        self._recent_lock = threading.Lock()
        self._reads_recent = False
        super().__init__(env=dict(env))
        self._snapshot_every = int(self.env.get(SNAPSHOT_EVERY) or 0) if self.snapshots else 0
        self._write_path = write_path(self)

    def construct_recorder(self) -> ApplicationRecorder:
        """The recorder of this context's log, or the one shared by contexts writing one log."""
        return self._shared_recorder or super().construct_recorder()

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """Use only the given environment, named for this context's log."""
        values = dict(type(self).env)
        values.update(env or {})
        if type(self).snapshotted and int(values.get(SNAPSHOT_EVERY) or 0) > 0:
            values["IS_SNAPSHOTTING_ENABLED"] = "y"
        return Environment(self.log_name, values)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        """The library's snapshot store, passing over snapshots today's code cannot read."""
        recorder = self.factory.aggregate_recorder(purpose="snapshots")
        return UsableSnapshots(mapper=self.mapper, recorder=recorder)

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
        """The aggregate as loaded from the store at most RECENT_SECONDS ago; do not change it.

        For checks on aggregates other than the one a command changes (is the product
        listed, is the seller active), where a moment's staleness is acceptable. A change
        made through this process is seen at once; one made elsewhere within RECENT_SECONDS.
        """
        self._reads_recent = True
        with self._recent_lock:
            seen = self._recent.get(aggregate_id)
        if isinstance(seen, kind):
            return seen
        aggregate = self.load(aggregate_id, kind)
        with self._recent_lock:
            self._recent[aggregate_id] = aggregate
        return aggregate

    def create(self, aggregate: MarketplaceAggregate) -> Outcome:
        """Append a new aggregate's events; a second create of the same id conflicts."""
        recordings = self.append(aggregate)
        position = recordings[-1].notification.id if recordings else None
        return Outcome(aggregate.id, aggregate.version, self.log_name, position)

    def change(
        self,
        aggregate_id: UUID,
        kind: type[T],
        decide: Callable[[T], Any],
        expected_version: int | None = None,
    ) -> Outcome:
        """Apply decide() to the aggregate and append its new events, through the write path.

        decide() raises a domain error or triggers events; with expected_version, a client
        whose version is stale gets StaleVersion. How loads, retries and appends are shared
        between concurrent changes is the write path's business (see BatchedWritePath).
        """
        return self._write_path.change(aggregate_id, Change(kind, decide, expected_version))

    def append(self, aggregate: MarketplaceAggregate) -> list[Recording[UUID]]:
        """Append the aggregate's pending events through the write path; their recordings."""
        # Most contexts never read through recent(): nothing to forget. (Not len(): a TTL
        # cache's len() expires entries, a change that needs the lock.)
        if self._reads_recent:
            with self._recent_lock:
                self._recent.pop(aggregate.id, None)
        events = aggregate.collect_events()
        if not events:
            return []
        recordings = self._write_path.append(events)
        if isinstance(aggregate, self.snapshotted):
            self._snapshot_if_due(aggregate.id, events)
        return recordings

    def take_snapshots(self, batch: int = 1000) -> int:
        """Snapshot every stream of the snapshotted aggregates whose latest snapshot is an
        interval or more behind its head, as loaded from the store; how many were taken.
        The snapshot pass, off the request path (`marketplace snapshots take`)."""
        every, taken = self._snapshot_every, 0
        if every <= 0 or self.snapshots is None:
            return 0
        topics = creation_topics(type(self).snapshotted)
        start = 1
        while found := self.recorder.select_notifications(start, batch, topics=topics):
            for created in found:
                stream = UUID(str(created.originator_id))
                head = self.recorder.select_events(stream, desc=True, limit=1)
                last = self._last_snapshot(stream)
                if head and head[0].originator_version - (last or 0) >= every:
                    self._take_snapshot(stream, head[0].originator_version)
                    taken += 1
            start = found[-1].id + 1
        return taken

    def _last_snapshot(self, aggregate_id: UUID) -> int | None:
        assert self.snapshots is not None
        stored = self.snapshots.recorder.select_events(aggregate_id, desc=True, limit=1)
        return stored[0].originator_version if stored else None

    def _take_snapshot(self, aggregate_id: UUID, version: int) -> None:
        assert self.snapshots is not None
        aggregate: MarketplaceAggregate = self.repository.get(aggregate_id, version=version)
        self.snapshots.put([StateSnapshot.take(aggregate)])

    def _snapshot_if_due(self, aggregate_id: UUID, events: Sequence[Any]) -> None:
        """Snapshot the aggregate at the version its appended events reached that is due,
        as loaded from the store, when the replay that costs is short (short_replay; else
        the snapshot pass takes it). A snapshot is only an aid: failing to take one is
        logged, and the change it follows stands."""
        version = due(events, self._snapshot_every)
        if version is None or self.snapshots is None:
            return
        try:
            last = self._last_snapshot(aggregate_id)
            if not short_replay(version, last, self._snapshot_every):
                log.info("snapshot_deferred", aggregate_id=str(aggregate_id), version=version)
                return
            self._take_snapshot(aggregate_id, version)
        except Exception as error:
            log.warning("snapshot_failed", aggregate_id=str(aggregate_id), error=str(error))
