"""Leader/follower batching that hands on the lead: one batch per leader, never more."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass
class Queued:
    """One caller's work waiting for its batch: the work, then its result or error.

    Only a caller that queues behind others waits: on wake, a lock taken for it and
    released once, to wake it (a lock is far cheaper to make and signal than an Event).
    """

    work: Any
    wake: threading.Lock | None = None
    done: bool = False
    result: Any = None
    error: BaseException | None = None


RunBatch = Callable[[Hashable, list[Queued]], None]
"""Runs one batch for a key, setting result or error on every queued item of it."""


class Batcher:
    """Runs the work queued for each key in batches, one batch of a key at a time.

    The first caller for a key leads: it runs one batch of at most max_batch items queued
    for that key, its own first. It then hands the lead to the oldest item queued after
    that batch (waking its caller) and returns with its own answer. So a caller waits
    for the batch before its own at most, and is held running one batch at most: nobody
    serves others without limit. Under no contention a batch holds one item and nobody
    waits. Different keys never wait for each other.

    run answers each item by setting its result or error; an item it leaves without
    either gets the exception run raised, if any.
    """

    def __init__(self, run: RunBatch, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queues: dict[Hashable, list[Queued]] = {}

    def submit(self, key: Hashable, work: Any) -> Any:
        """Queue work for key, wait until its batch ran, and return its result."""
        queued = Queued(work)
        with self._lock:
            queue = self._queues.setdefault(key, [])
            if queue:
                queued.wake = threading.Lock()
                queued.wake.acquire()
            queue.append(queued)
        if queued.wake is not None:
            queued.wake.acquire()
        if not queued.done:
            self._lead(key)
        if queued.error is not None:
            raise queued.error
        return queued.result

    def waiting(self, key: Hashable) -> int:
        """How many items are queued for key, the running batch included."""
        with self._lock:
            return len(self._queues.get(key, ()))

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
                successor, queue[0].wake = queue[0].wake, None
                assert successor is not None  # it queued behind others
                successor.release()
            else:
                del self._queues[key]
        for queued in batch:
            queued.done = True
            if queued.wake is not None:
                queued.wake.release()
