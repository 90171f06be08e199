"""What lets a worker take large batches cheaply: reading ahead, and no collection mid-batch."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

from projections.log import ContextLog, Positioned


class ReadAhead:
    """Reads a log's next batch in the background while the worker applies the current one.

    Each read runs on a daemon thread of its own (about one a second while behind), so a
    read still waiting on its store never holds the process up as it exits.

    A batch read ahead from a position is used only by a step that starts at that position:
    the log is append-only, so those are the events that follow it (a read made later could
    only hold more). Anything else is dropped. An error of the background read (its store
    unavailable) is raised by the step that takes it, as the read's own would be.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, Future[list[Positioned]]]] = {}

    def start(self, log: ContextLog, after: int, limit: int) -> None:
        """Begin reading up to limit events after the position."""
        future: Future[list[Positioned]] = Future()

        def read() -> None:
            try:
                future.set_result(log.read(after, limit))
            except BaseException as error:
                future.set_exception(error)

        threading.Thread(target=read, name=f"read-ahead-{log.log_name}", daemon=True).start()
        self._pending[log.log_name] = (after, future)

    def take(self, log: ContextLog, after: int, limit: int) -> list[Positioned]:
        """The batch read ahead from after, if there is one; else read up to limit now."""
        pending = self._pending.pop(log.log_name, None)
        if pending is not None and pending[0] == after:
            return pending[1].result()
        return log.read(after, limit)


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (if it is on), then resume it.

    A batch's tens of thousands of objects live until it commits: collecting them again and
    again meanwhile costs more CPU than the batch's own work. Reference counting frees them
    once the batch is done, and the next collection deals with any cycle among them.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
