"""The aggregates this process wrote last, kept to skip a read before the next change.

Skipping the read pays off only while other processes rarely write the same aggregates
(one API process, or requests routed by aggregate). Each use is reported back: when
more than STALE_LIMIT of recent uses turned out stale, the copies are bypassed, with an
occasional probe to notice when that changes.
"""

from __future__ import annotations

import random
import threading
from typing import Any
from uuid import UUID

from cachetools import LRUCache

STALE_LIMIT = 0.1
PROBE_CHANCE = 0.02
SMOOTHING = 0.02


class WrittenAggregates:
    """A bounded, thread-safe LRU map of aggregate id to the aggregate as last saved here.

    Entries are taken out while a change runs, so a failed change never leaves a
    half-applied aggregate behind; put() returns it once the append succeeded.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self._items: LRUCache[UUID, Any] = LRUCache(maxsize)
        self._lock = threading.Lock()
        self.stale_rate = 0.0

    def take(self, aggregate_id: UUID) -> Any | None:
        """Remove and return the aggregate, or None (also while copies are mostly stale)."""
        with self._lock:
            cached = self._items.pop(aggregate_id, None)
        if self.stale_rate > STALE_LIMIT and random.random() > PROBE_CHANCE:
            return None
        return cached

    def report(self, *, stale: bool) -> None:
        """Record whether a copy handed out by take() was still current."""
        self.stale_rate += SMOOTHING * ((1.0 if stale else 0.0) - self.stale_rate)

    def put(self, aggregate_id: UUID, aggregate: Any) -> None:
        """Keep the aggregate as last saved, evicting the least recently written."""
        with self._lock:
            self._items[aggregate_id] = aggregate
