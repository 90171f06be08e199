"""The projection runtime: follow logs in batches, apply each batch and its position atomically.

What a failure is, and the PositionMoved a view raises, are in projections.failures (the
views import PositionMoved and ViewVersionMoved from here, where the runtime uses them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import structlog
from tenacity import RetryCallState

from projections.batching import ReadAhead, collection_paused
from projections.completeness import stored_positions
from projections.failures import (
    EventUndecodable,
    Failed,
    FailureBook,
    Kind,
    Policy,
    PositionMoved,
    ProjectionStopped,
    State,
    ViewVersionMoved,
    classify,
    retrying,
)
from projections.handlers import EventHandlers
from projections.log import ContextLog, Positioned, Undecodable
from projections.metrics import FAILURES, LAG_EVENTS, LAG_SECONDS, PARKED, PROJECTED

log = structlog.get_logger()

T = TypeVar("T")


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
    failure_policy says what its worker does with a poison event (projections.failures).
    """

    name: ClassVar[str]
    contexts: ClassVar[tuple[str, ...]]
    failure_policy: ClassVar[Policy] = Policy.STOP

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
    work, so a crash at any instant leaves the view at a batch boundary. A failure is
    classified (projections.failures): a transient one (the view's or the log's store
    unavailable) is retried with capped, jittered backoff. A batch failing on a poison event
    is split until that event is alone, the others committed; the event gets the policy (the
    projection's unless given): STOP raises ProjectionStopped, PARK records it in failures
    (the dead letters) and moves past it; one an operator skipped there is passed over. A
    bug raises ProjectionStopped. Stops are recorded in failures too, so they outlive us.

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
        failures: FailureBook | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.projection = projection
        self.view = view
        self.logs = list(logs)
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        self.failures = failures
        self.policy = policy or projection.failure_policy
        self._limits: dict[str, int] = {}
        self._ahead = ReadAhead()
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._positions: dict[str, int] | None = None
        self._at = ("", 0)
        self._stops: list[tuple[str, int]] | None = None
        self._stop: threading.Event | None = None

    def run(self, stop: threading.Event, verify_seconds: float = 1.0) -> None:
        """Project until stop is set; ProjectionStopped on a poison event (STOP) or a bug.

        While idle it checks every verify_seconds that the view still holds the positions
        it wrote, so a view that lost its data is rebuilt from the log without a write.
        A stop requested while a store is being retried ends the retries and returns.
        """
        self._stop = stop
        verified = time.monotonic()
        while not stop.is_set():
            try:
                projected = self._retrying(self.step, stop)
                if projected == 0 and time.monotonic() - verified >= verify_seconds:
                    self._retrying(self.verify, stop)
                    verified = time.monotonic()
            except ProjectionStopped:
                raise
            except Exception as error:
                if stop.is_set() and self._kind(error) is Kind.TRANSIENT:
                    return
                log_name, position = self._at
                failed = Failed.at(self.projection.name, Kind.BUG, log_name, position, None, error)
                raise self._stopped(failed) from error
            if projected == 0:
                stop.wait(self.idle_seconds)

    def verify(self) -> int:
        """Reread the view's positions; if they moved (say, the view was emptied), start there.

        A versioned view resolves the version its writers use as it rereads, so a worker
        whose view was rebuilt beside it moves to the new version here when idle.
        """
        version = getattr(self.view, "version", None)
        stored = stored_positions(self.projection.name, self.view, self.logs)
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
        self._passed("", 0)
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

    def reapply(self, name: str, position: int) -> None:
        """Apply the event at position in the log again, after a fix; whatever fails raises.

        A view not yet past it (stopped there) gets every event up to it, and moves its
        position there; a view past it (the event was parked) gets that event alone, out of
        order, with its positions unchanged.
        """
        context_log = next((log for log in self.logs if log.log_name == name), None)
        if context_log is None:
            raise LookupError(f"{self.projection.name} does not follow {name}")
        stored = self.view.positions().get(name, 0)
        self._positions = None
        after, last = stored, max(stored, position)
        start = min(stored, position - 1)
        batch = [p for p in context_log.read(start, position - start) if p.position <= position]
        if not batch or batch[-1].position != position:
            raise LookupError(f"no event at {position} in {name}")
        for item in batch:
            if isinstance(item.event, Undecodable):
                raise EventUndecodable(f"{name} {item.position}: {item.event.error}")
        self._commit(name, after, batch, last)

    def step(self) -> int:
        """Project one batch from each log that has new events; return how many events."""
        with collection_paused():
            return self._step()

    def _step(self) -> int:
        total = 0
        for context_log in self.logs:
            name = context_log.log_name
            after = self.positions().get(name, 0)
            self._at = (name, after + 1)
            batch = self._ahead.take(context_log, after, self._limits.get(name, self.batch_size))
            left = self._observe_lag(context_log, after, batch) - len(batch)
            self._limits[name] = min(max(left, self.batch_size), self.max_batch_size)
            if not batch:
                continue
            if left > 0:
                self._ahead.start(context_log, batch[-1].position, self._limits[name])
            self._apply(name, after, batch)
            total += len(batch)
        self._at = ("", 0)
        return total

    def positions(self) -> dict[str, int]:
        """The positions the view holds (read once, then kept in step with each commit).

        A view found empty records its completeness target (projections.completeness).
        """
        if self._positions is None:
            self._positions = stored_positions(self.projection.name, self.view, self.logs)
        return self._positions

    def _apply(self, name: str, after: int, batch: list[Positioned]) -> None:
        """Commit the batch; an undecodable event in it is poison, at its own position."""
        start = 0
        for index, item in enumerate(batch):
            if isinstance(item.event, Undecodable):
                if index > start:
                    after = self._isolating(name, after, batch[start:index])
                after = self._poisoned(name, after, item, item.event.error)
                start = index + 1
        if start < len(batch):
            self._isolating(name, after, batch[start:])

    def _isolating(self, name: str, after: int, batch: list[Positioned]) -> int:
        """Commit the batch; if one of its events is poison, split it until that one is alone.

        The events before the poison one are committed; the position reached is returned.
        """
        try:
            return self._commit(name, after, batch, batch[-1].position)
        except Exception as error:
            if self._kind(error) is not Kind.POISON:
                raise
            if len(batch) == 1:
                return self._poisoned(name, after, batch[0], error)
        half = len(batch) // 2
        return self._isolating(name, self._isolating(name, after, batch[:half]), batch[half:])

    def _commit(self, name: str, after: int, batch: list[Positioned], last: int) -> int:
        """Apply the batch's events and move the log's position from after to last, at once."""
        self._at = (name, batch[0].position if batch else last)
        events = [item.event for item in batch]
        if events:
            self.projection.prepare(events)
        try:
            with self.view.unit_of_work() as unit:
                for event in events:
                    self.projection.project(event, unit)
                unit.track(name, after, last)
        except BaseException:
            self._positions = None
            raise
        self.positions()[name] = last
        PROJECTED.labels(self.projection.name, name).inc(len(batch))
        self._passed(name, last)
        return last

    def _poisoned(self, name: str, after: int, item: Positioned, error: object) -> int:
        """Skip, park or stop at a poison event; the position reached past it."""
        projection, event = self.projection.name, item.event
        failed = Failed.at(projection, Kind.POISON, name, item.position, event, error)
        book = self.failures
        if book is not None and book.skipped(failed.projection, name, item.position):
            FAILURES.labels(failed.projection, "skipped").inc()
            log.warning("projection_event_skipped", **vars(failed))
            return self._commit(name, after, [], item.position)
        if book is None or self.policy is not Policy.PARK:
            raise self._stopped(failed)
        book.record(failed, State.PARKED)
        FAILURES.labels(failed.projection, "parked").inc()
        PARKED.labels(failed.projection).inc()
        log.warning("projection_event_parked", **vars(failed))
        return self._commit(name, after, [], item.position)

    def _stopped(self, failed: Failed) -> ProjectionStopped:
        """Count, log and record the stop (retrying a store that is down); the error to raise."""
        FAILURES.labels(failed.projection, "stopped").inc()
        log.error("projection_stopped", **vars(failed))
        book = self.failures
        if book is not None:
            try:
                self._retrying(lambda: book.record(failed, State.STOPPED), self._stop)
            except Exception:
                log.exception("projection_stop_unrecorded", projection=failed.projection)
        return ProjectionStopped(failed)

    def _passed(self, name: str, position: int) -> None:
        """Mark the stops this worker has now got past (and any met outside a batch) retried.

        The first call reads the worker's stops and sets its gauge of parked events.
        """
        book = self.failures
        if book is None:
            return
        if self._stops is None:
            self._stops = book.stopped(self.projection.name)
            PARKED.labels(self.projection.name).set(book.parked_count(self.projection.name))
        passed = [(at, p) for at, p in self._stops if at == "" or (at == name and p <= position)]
        if passed:
            book.passed(self.projection.name, name, position)
            self._stops = [stop for stop in self._stops if stop not in passed]

    def _observe_lag(self, context_log: ContextLog, after: int, batch: list[Positioned]) -> int:
        """Export how far the batch starts behind the log's head; that many events."""
        name = context_log.log_name
        behind = max(context_log.head() - after, 0) if batch else 0
        LAG_EVENTS.labels(self.projection.name, name).set(behind)
        stamp = getattr(batch[0].event, "timestamp", None) if batch else None
        seconds = (self._clock() - stamp).total_seconds() if stamp else 0.0
        LAG_SECONDS.labels(self.projection.name, name).set(max(seconds, 0.0))
        return behind

    def _transient_errors(self) -> tuple[type[BaseException], ...]:
        log_errors = (error for context_log in self.logs for error in context_log.transient_errors)
        book_errors = self.failures.transient_errors if self.failures else ()
        return (PositionMoved, *self.view.transient_errors, *log_errors, *book_errors)

    def _kind(self, error: BaseException) -> Kind:
        return classify(error, self._transient_errors())

    def _retrying(self, step: Callable[[], T], stop: threading.Event | None = None) -> T:
        """step(), its transient failures retried (until stop is set), each logged and counted."""

        def note(state: RetryCallState) -> None:
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

        return retrying(step, self._transient_errors(), stop, note)
