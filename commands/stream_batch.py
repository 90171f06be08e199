"""Per-stream batching: concurrent changes of one aggregate share one load and one append."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Queued:
    """One caller's change waiting for its batch: the work, then its result or error."""

    work: Any
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    result: Any = None
    error: BaseException | None = None


RunBatch = Callable[[Hashable, list[Queued]], None]
"""Runs a batch for a key, setting result or error on every queued change."""


class StreamBatcher:
    """Runs the changes queued for each key (a stream) in batches, one batch at a time.

    The first caller for a key leads: it runs one batch of every change queued for that
    key, its own first. If more changes queued meanwhile, it hands the lead to the oldest
    of them and returns, so no caller works for others longer than one batch. Under no
    contention a batch holds one change and nobody waits. Different keys never wait for
    each other.
    """

    def __init__(self, run: RunBatch, max_batch: int = 256) -> None:
        self._run = run
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[Queued]] = {}

    def submit(self, key: Hashable, work: Any) -> Any:
        """Queue work for key, wait until its batch ran, and return its result."""
        queued = Queued(work)
        with self._lock:
            queue = self._queues.setdefault(key, [])
            queue.append(queued)
            lead = len(queue) == 1
        if not lead:
            queued.wake.wait()
        if not queued.done:
            self._lead(key)
        if queued.error is not None:
            raise queued.error
        return queued.result

    def _lead(self, key: Hashable) -> None:
        with self._lock:
            batch = self._queues[key][: self._max_batch]
        try:
            self._run(key, batch)
        except BaseException as error:
            for queued in batch:
                if queued.result is None and queued.error is None:
                    queued.error = error
        with self._lock:
            queue = self._queues[key]
            del queue[: len(batch)]
            if queue:
                queue[0].wake.set()
            else:
                del self._queues[key]
        for queued in batch:
            queued.done = True
            queued.wake.set()
