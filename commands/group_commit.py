"""Group commit: concurrent saves of different aggregates share one append transaction."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording

from commands.batching import Batcher, Queued

Save = Callable[..., list[Recording[UUID]]]
LOG = "log"
"""The one key: every append of an application goes to the same log."""


class GroupCommitter:
    """Appends the events of many callers in one transaction, leader/follower style.

    The first caller to arrive while no append is running leads: it appends everything
    queued so far (up to max_batch) in one transaction, then hands the lead to a caller
    that queued meanwhile (see Batcher). Under no load a batch holds one caller, so
    nothing waits for a timer. If a batch hits an optimistic-concurrency conflict, it is
    split in halves and each half appended again, so only the conflicting caller sees the
    error, after about 2·log2(n) appends rather than n.
    """

    def __init__(self, save: Save, max_batch: int = 100) -> None:
        self._save = save
        self._batcher = Batcher(self._flush_batch, max_batch)

    def append(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Append one caller's events atomically, possibly together with others'."""
        recordings: list[Recording[UUID]] = self._batcher.submit(LOG, events)
        return recordings

    def waiting(self) -> int:
        """Callers queued, the group being appended included."""
        return self._batcher.waiting(LOG)

    def _flush_batch(self, key: Hashable, batch: list[Queued]) -> None:
        self._flush(batch)

    def _flush(self, batch: list[Queued]) -> None:
        if len(batch) == 1:
            self._flush_one(batch[0])
            return
        try:
            recordings = self._save(*[e for queued in batch for e in queued.work])
        except RecordConflictError:
            half = len(batch) // 2
            self._flush(batch[:half])
            self._flush(batch[half:])
            return
        except BaseException as error:
            for queued in batch:
                queued.error = error
            return
        start = 0
        for queued in batch:
            queued.result = recordings[start : start + len(queued.work)]
            start += len(queued.work)

    def _flush_one(self, queued: Queued) -> None:
        try:
            queued.result = self._save(*queued.work)
        except BaseException as error:
            queued.error = error
