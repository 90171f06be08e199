"""The application base shared by every bounded context: load, decide, append."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from cachetools import TTLCache
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import ApplicationRecorder, Recording
from eventsourcing.utils import Environment

from commands.stream_batch import BatchedWritePath
from commands.write_path import Change, Outcome, WritePathFactory
from domain.base import MarketplaceAggregate
from domain.errors import NotFound

T = TypeVar("T", bound=MarketplaceAggregate)

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
        self._write_path = write_path(self)

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
        return self._write_path.append(events)
