"""The production write path: changes of one stream batched, appends group-committed."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording
from eventsourcing.utils import strtobool

from commands.batching import Batcher, Queued
from commands.errors import StaleVersion
from commands.group_commit import GroupCommitter
from commands.write_path import Change, Outcome, retry_conflicts
from commands.written import WrittenAggregates
from domain.base import MarketplaceAggregate
from domain.errors import DomainError, NotFound

if TYPE_CHECKING:
    from commands.base import ContextApplication

GROUP_COMMIT = "GROUP_COMMIT"
"""Environment key: "n" for stores that cannot append to several streams atomically."""
MAX_STREAM_BATCH = 256


class _Decided(Enum):
    DONE = "done"
    RELOAD = "reload"


class BatchedWritePath:
    """Concurrent changes of one aggregate in this process run as one batch.

    One load, each change's decide() in turn, one append (see Batcher). The copy this
    process last wrote is used without reading the store, while such copies are rarely
    stale (see WrittenAggregates). If another process has written since, the append
    conflicts or a decide() refuses on old state: either way the aggregate is reloaded and
    the batch runs again. Only answers given on fresh state are final. Real contention is
    retried with jittered backoff until the application's conflict deadline. Appends of
    different aggregates share transactions (GroupCommitter) unless the environment says
    GROUP_COMMIT=n.
    """

    def __init__(self, app: ContextApplication) -> None:
        self._app = app
        self._committer = GroupCommitter(app.save)
        self._group_commit = strtobool(app.env.get(GROUP_COMMIT, "y"))
        self._batcher = Batcher(self._run_batch, MAX_STREAM_BATCH)
        self._written = WrittenAggregates()

    def change(self, aggregate_id: UUID, change: Change) -> Outcome:
        """Run the change in the aggregate's next batch; its own outcome."""
        outcome: Outcome = self._batcher.submit(aggregate_id, change)
        return outcome

    def append(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Append in a group commit, or alone where the store cannot combine streams."""
        if self._group_commit:
            return self._committer.append(events)
        return self._app.save(*events)

    def _run_batch(self, key: Hashable, batch: list[Queued]) -> None:
        aggregate_id = cast(UUID, key)
        remaining = list(batch)
        cached = self._written.take(aggregate_id)

        def attempt() -> None:
            nonlocal cached
            copy, cached = cached, None  # a written copy is tried once, then the store
            self._attempt(aggregate_id, remaining, copy)

        retry_conflicts(attempt, self._app.conflict_deadline_seconds, aggregate_id)

    def _attempt(self, aggregate_id: UUID, remaining: list[Queued], cached: Any) -> None:
        """Decide and append the remaining changes, answering each; RecordConflictError
        when another writer won on fresh state (the caller waits and calls again)."""
        kind = cast(Change, remaining[0].work).kind
        while remaining:
            fresh = not isinstance(cached, kind)
            try:
                aggregate = cached if not fresh else self._app.load(aggregate_id, kind)
            except NotFound as error:
                for queued in remaining:
                    queued.error = error
                return
            cached = None
            if self._decide_batch(aggregate, remaining, fresh) is _Decided.RELOAD:
                continue
            try:
                recordings = self._app.append(aggregate)
            except RecordConflictError:
                if not fresh:
                    self._written.report(stale=True)
                    continue
                self._answer_stale(aggregate_id, kind, remaining)
                if remaining:
                    raise
                return
            if not fresh:
                self._written.report(stale=False)
            self._written.put(aggregate_id, aggregate)
            for queued in remaining:
                if queued.error is None:
                    change = cast(Change, queued.work)
                    queued.result = change.outcome(aggregate_id, self._app.log_name, recordings)
            return

    def _answer_stale(self, aggregate_id: UUID, kind: type[Any], remaining: list[Queued]) -> None:
        """After a conflict, answer the changes that expected the version now gone."""
        stale = [q for q in remaining if cast(Change, q.work).expected_version is not None]
        for queued in stale:
            queued.error = cast(Change, queued.work).stale(self._app.load(aggregate_id, kind))
            remaining.remove(queued)

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
            change = cast(Change, queued.work)
            before = len(aggregate.pending_events)
            try:
                change.apply(aggregate)
            except (DomainError, StaleVersion) as error:
                if not fresh:
                    if self._app.load(aggregate.id, type(aggregate)).version != base_version:
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
