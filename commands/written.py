"""The aggregates this process wrote last, kept to skip a read before the next change."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID


class WrittenAggregates:
    """A bounded, thread-safe LRU map of aggregate id to the aggregate as last saved here.

    Entries are taken out while a change runs, so a failed change never leaves a
    half-applied aggregate behind; put() returns it once the append succeeded.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self._maxsize = maxsize
        self._items: OrderedDict[UUID, Any] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Any | None:
        """Remove and return the aggregate, or None."""
        with self._lock:
            return self._items.pop(aggregate_id, None)

    def put(self, aggregate_id: UUID, aggregate: Any) -> None:
        """Keep the aggregate as last saved, evicting the least recently written."""
        with self._lock:
            self._items[aggregate_id] = aggregate
            self._items.move_to_end(aggregate_id)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)
