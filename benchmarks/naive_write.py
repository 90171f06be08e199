"""The naive write path: plain optimistic concurrency with retries, the baseline to beat.

Every change loads, decides and appends on its own, and on a conflict waits (jittered,
exponential) and does it all again; every append is a transaction of its own. Benchmarks
inject it where production wiring puts commands.stream_batch.BatchedWritePath, e.g.
`Commands(env, write_path=NaiveWritePath)`; benchmarks.naive_stack runs whole servers so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording

from commands.base import ContextApplication
from commands.write_path import Change, Outcome, retry_conflicts


class NaiveWritePath:
    """Load, decide, append; on a conflict, wait and start again until the deadline."""

    def __init__(self, app: ContextApplication) -> None:
        self._app = app

    def change(self, aggregate_id: UUID, change: Change) -> Outcome:
        """The change alone: a conflict retries it, or answers StaleVersion if it expected one."""
        app = self._app

        def attempt() -> Outcome:
            aggregate = app.load(aggregate_id, change.kind)
            change.apply(aggregate)
            try:
                recordings = app.append(aggregate)
            except RecordConflictError:
                if change.expected_version is not None:
                    raise change.stale(app.load(aggregate_id, change.kind)) from None
                raise
            position = recordings[-1].notification.id if recordings else None
            return Outcome(aggregate.id, aggregate.version, app.log_name, position)

        return retry_conflicts(attempt, app.conflict_deadline_seconds, aggregate_id)

    def append(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """One transaction per append: no group commit."""
        return self._app.save(*events)
