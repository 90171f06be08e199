"""Group commit: concurrent saves of different aggregates share one append transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError, Recording

Save = Callable[..., list[Recording[UUID]]]


@dataclass
class _Pending:
    events: Sequence[Any]
    done: threading.Event = field(default_factory=threading.Event)
    recordings: list[Recording[UUID]] | None = None
    error: BaseException | None = None


class GroupCommitter:
    """Appends the events of many callers in one transaction, leader/follower style.

    The first caller to arrive while no append is running becomes the leader and appends
    everything queued so far (up to max_batch); callers arriving meanwhile wait and are
    taken by the next leader. Under no load a batch holds one caller, so nothing waits for
    a timer. If a batch hits an optimistic-concurrency conflict, it is split in halves and
    each half appended again, so only the conflicting caller sees the error, after about
    2·log2(n) appends rather than n.
    """

    def __init__(self, save: Save, max_batch: int = 100) -> None:
        self._save = save
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def append(self, events: Sequence[Any]) -> list[Recording[UUID]]:
        """Append one caller's events atomically, possibly together with others'."""
        pending = _Pending(events)
        with self._lock:
            self._queue.append(pending)
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.recordings is not None
        return pending.recordings

    def _lead(self) -> None:
        while True:
            with self._lock:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                if not batch:
                    self._leading = False
                    return
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            self._flush_one(batch[0])
            return
        try:
            recordings = self._save(*[e for p in batch for e in p.events])
        except RecordConflictError:
            half = len(batch) // 2
            self._flush(batch[:half])
            self._flush(batch[half:])
            return
        except BaseException as error:
            for pending in batch:
                pending.error = error
                pending.done.set()
            return
        start = 0
        for pending in batch:
            pending.recordings = recordings[start : start + len(pending.events)]
            start += len(pending.events)
            pending.done.set()

    def _flush_one(self, pending: _Pending) -> None:
        try:
            pending.recordings = self._save(*pending.events)
        except BaseException as error:
            pending.error = error
        pending.done.set()
