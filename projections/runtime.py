"""The projection runtime: follow logs in batches, apply each batch and its position atomically."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import structlog
from prometheus_client import Counter, Gauge
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_never,
    stop_when_event_set,
    wait_random_exponential,
)

from projections.batching import ReadAhead, collection_paused
from projections.handlers import EventHandlers
from projections.log import ContextLog, Positioned

log = structlog.get_logger()

LAG_EVENTS = Gauge(
    "projection_lag_events", "Events in the log not yet projected", ["projection", "log"]
)
LAG_SECONDS = Gauge(
    "projection_lag_seconds",
    "Age of the oldest event not yet projected (0 when caught up)",
    ["projection", "log"],
)
PROJECTED = Counter("projection_events_total", "Events projected", ["projection", "log"])
FAILURES = Counter(
    "projection_failures_total", "Projection stops and store retries", ["projection", "kind"]
)


class PositionMoved(Exception):
    """The view's stored position is not where this worker left it.

    The store lost its data (a Redis restarted without persistence) or another worker
    wrote: the worker rereads the positions and carries on from there, rebuilding from
    the start of the log if the view is empty.
    """


class ViewVersionMoved(PositionMoved):
    """The view's writers were moved to another version of it (a rebuild switched them).

    Nothing of the batch was written: the worker rereads the positions, which resolves the
    version writers now use, and carries on there from that version's own positions.
    """


class Unit(Protocol):
    """The changes of one batch, written together with the batch's position."""

    def track(self, log: str, after: int, position: int) -> None:
        """Record that the log is projected up to position, if the view was at after.

        On commit the view raises PositionMoved unless its stored position was after.
        """


U = TypeVar("U", bound=Unit)
U_co = TypeVar("U_co", bound=Unit, covariant=True)


class View(Protocol[U_co]):
    """A read-model store that keeps each log's position with its data."""

    transient_errors: tuple[type[BaseException], ...]

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""

    def unit_of_work(self) -> AbstractContextManager[U_co]:
        """A unit whose changes and position commit atomically when the block exits."""


class Projection(EventHandlers, Generic[U]):
    """Turns events into view changes with its @handles methods (projections.handlers).

    An event that none of its handlers takes is not its business and changes nothing.
    """

    name: ClassVar[str]
    contexts: ClassVar[tuple[str, ...]]

    def project(self, event: Any, unit: U) -> None:
        """Apply one event with its handler; an event that no handler takes changes nothing."""
        handler = self.handler_for(type(event))
        if handler is not None:
            handler(self, event, unit)

    def prepare(self, events: Sequence[Any]) -> None:
        """Act on a batch before its view changes commit; nothing by default.

        A process manager issues its commands here: if it crashes, the batch's position
        is not recorded, so the commands run again (they must be idempotent).
        """


class Worker(Generic[U]):
    """Runs one projection over its logs, batch by batch, until stopped.

    Each batch's changes and the log position after it are committed in one unit of
    work, so a crash at any instant leaves the view at a batch boundary. A store that
    is unavailable (the view's store or the log's) is retried with capped, jittered
    backoff; any other error stops the worker (it never logs and skips).

    Batches hold batch_size events. With a larger max_batch_size, a log read far behind its
    head (a rebuild, a catch-up after a stop) is read next in a batch as large as what is
    left behind the head, up to max_batch_size: fewer, larger commits when behind, small
    ones when following the head. While behind, the next batch is read in the background
    as the current one is applied, and the cyclic garbage collector waits for each batch
    to end (projections.batching).
    """

    def __init__(
        self,
        projection: Projection[U],
        view: View[U],
        logs: Sequence[ContextLog],
        *,
        batch_size: int = 1000,
        max_batch_size: int | None = None,
        idle_seconds: float = 0.02,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.projection = projection
        self.view = view
        self.logs = list(logs)
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self._limits: dict[str, int] = {}
        self._ahead = ReadAhead()
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._positions: dict[str, int] | None = None

    def run(self, stop: threading.Event, verify_seconds: float = 1.0) -> None:
        """Project until stop is set; re-raise a non-transient error after counting it.

        While idle it checks every verify_seconds that the view still holds the positions
        it wrote, so a view that lost its data is rebuilt from the log without a write.
        A stop requested while a store is being retried ends the retries and returns.
        """
        verified = time.monotonic()
        while not stop.is_set():
            try:
                projected = self._retrying(self.step, stop)
                if projected == 0 and time.monotonic() - verified >= verify_seconds:
                    self._retrying(self.verify, stop)
                    verified = time.monotonic()
            except Exception as error:
                if stop.is_set() and isinstance(error, self._transient_errors()):
                    return
                FAILURES.labels(self.projection.name, "stopped").inc()
                log.exception("projection_stopped", projection=self.projection.name)
                raise
            if projected == 0:
                stop.wait(self.idle_seconds)

    def verify(self) -> int:
        """Reread the view's positions; if they moved (say, the view was emptied), start there.

        A versioned view resolves the version its writers use as it rereads, so a worker
        whose view was rebuilt beside it moves to the new version here when idle.
        """
        version = getattr(self.view, "version", None)
        stored = self.view.positions()
        moved = getattr(self.view, "version", None) != version
        if moved:
            log.info(
                "projection_version_moved",
                projection=self.projection.name,
                version=getattr(self.view, "version", None),
                found=stored,
            )
        elif self._positions is not None and stored != self._positions:
            FAILURES.labels(self.projection.name, "view_reset").inc()
            log.warning(
                "projection_view_moved",
                projection=self.projection.name,
                expected=self._positions,
                found=stored,
            )
        self._positions = stored
        return 0

    def catch_up(self, progress: Callable[[int, dict[str, int]], None] | None = None) -> int:
        """Project until every log's head, as seen when called; return how many events.

        progress, if given, is called after each step with the events projected so far by
        this call and the view's positions.
        """
        heads = {log.log_name: log.head() for log in self.logs}
        self._positions = None
        total = 0
        while any(self.positions().get(name, 0) < head for name, head in heads.items()):
            total += self._retrying(self.step)
            if progress is not None:
                progress(total, dict(self.positions()))
        return total

    def step(self) -> int:
        """Project one batch from each log that has new events; return how many events."""
        with collection_paused():
            return self._step()

    def _step(self) -> int:
        total = 0
        for context_log in self.logs:
            name = context_log.log_name
            after = self.positions().get(name, 0)
            batch = self._ahead.take(context_log, after, self._limits.get(name, self.batch_size))
            left = self._observe_lag(context_log, after, batch) - len(batch)
            self._limits[name] = min(max(left, self.batch_size), self.max_batch_size)
            if not batch:
                continue
            if left > 0:
                self._ahead.start(context_log, batch[-1].position, self._limits[name])
            self._apply(name, after, batch)
            total += len(batch)
        return total

    def positions(self) -> dict[str, int]:
        """The positions the view holds (read once, then kept in step with each commit)."""
        if self._positions is None:
            self._positions = self.view.positions()
        return self._positions

    def _apply(self, name: str, after: int, batch: list[Positioned]) -> None:
        last = batch[-1].position
        self.projection.prepare([item.event for item in batch])
        try:
            with self.view.unit_of_work() as unit:
                for item in batch:
                    self.projection.project(item.event, unit)
                unit.track(name, after, last)
        except BaseException:
            self._positions = None
            raise
        self.positions()[name] = last
        PROJECTED.labels(self.projection.name, name).inc(len(batch))

    def _observe_lag(self, context_log: ContextLog, after: int, batch: list[Positioned]) -> int:
        """Export how far the batch starts behind the log's head; that many events."""
        name = context_log.log_name
        behind = max(context_log.head() - after, 0) if batch else 0
        LAG_EVENTS.labels(self.projection.name, name).set(behind)
        seconds = (self._clock() - batch[0].event.timestamp).total_seconds() if batch else 0.0
        LAG_SECONDS.labels(self.projection.name, name).set(max(seconds, 0.0))
        return behind

    def _transient_errors(self) -> tuple[type[BaseException], ...]:
        log_errors = (error for context_log in self.logs for error in context_log.transient_errors)
        return (PositionMoved, *self.view.transient_errors, *log_errors)

    def _retrying(self, step: Callable[[], int], stop: threading.Event | None = None) -> int:
        transient = self._transient_errors()

        def pause(seconds: float) -> None:
            if stop is None:
                time.sleep(seconds)
            else:
                stop.wait(seconds)

        def note(state: Any) -> None:
            self._positions = None
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, ViewVersionMoved):
                name = self.projection.name
                log.info("projection_version_moved", projection=name, why=str(error))
                return
            FAILURES.labels(self.projection.name, "retry").inc()
            log.warning(
                "projection_store_unavailable",
                projection=self.projection.name,
                attempt=state.attempt_number,
                error=repr(error),
            )

        retrying = Retrying(
            retry=retry_if_exception_type(transient),
            wait=wait_random_exponential(multiplier=0.05, max=5.0),
            stop=stop_never if stop is None else stop_when_event_set(stop),
            sleep=pause,
            before_sleep=note,
            reraise=True,
        )
        result: int = retrying(step)
        return result
