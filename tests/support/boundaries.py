"""Drive a projector batch by batch and look at what readers see between two batches.

A PausingView wraps the view a Worker writes: after each commit it holds the worker (in its
thread) until the test has looked. No sleeping, no timing: every batch boundary is seen.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from projections.completeness import Completeness
from projections.runtime import Worker

DONE = "done"


class PausingView:
    """A Completable view that pauses its worker after each commit until resume()."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self.transient_errors = view.transient_errors
        self.committed: queue.Queue[str] = queue.Queue()
        self.resumed: queue.Queue[None] = queue.Queue()
        self.pausing = True

    def positions(self) -> dict[str, int]:
        return dict(self.view.positions())

    def completeness(self) -> Completeness:
        state: Completeness = self.view.completeness()
        return state

    def start_empty(self, target: dict[str, int]) -> dict[str, int]:
        return dict(self.view.start_empty(target))

    @contextmanager
    def unit_of_work(self) -> Iterator[Any]:
        with self.view.unit_of_work() as unit:
            yield unit
        if self.pausing:
            self.committed.put("batch")
            self.resumed.get()


async def at_each_boundary(
    worker: Worker[Any], view: PausingView, look: Callable[[], Awaitable[None]]
) -> int:
    """Catch the worker up (in a thread), calling look() after each batch; how many batches.

    The worker waits while look() runs; if look() fails, the worker is let go and finishes.
    """

    def run() -> None:
        try:
            worker.catch_up()
        finally:
            view.committed.put(DONE)

    running = asyncio.ensure_future(asyncio.to_thread(run))
    batches = 0
    try:
        while await asyncio.to_thread(view.committed.get) != DONE:
            batches += 1
            try:
                await look()
            except BaseException:
                view.pausing = False
                raise
            finally:
                view.resumed.put(None)
    finally:
        await running
    return batches
