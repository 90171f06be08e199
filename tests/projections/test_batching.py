"""The worker's batches: sized by how far behind the head it is, read ahead, no GC mid-batch."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from projections.batching import ReadAhead, collection_paused
from projections.handlers import handles
from projections.log import Positioned
from projections.runtime import PositionMoved, Projection, Worker


@dataclass(frozen=True)
class Number:
    value: int
    timestamp: datetime


@dataclass
class Log:
    """An append-only log in memory that remembers every read it served."""

    log_name: str
    events: list[int]
    reads: list[tuple[int, int]] = field(default_factory=list)
    fail_next: BaseException | None = None
    transient_errors: tuple[type[BaseException], ...] = (ConnectionError,)

    def read(self, after: int, limit: int) -> list[Positioned]:
        self.reads.append((after, limit))
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        chosen = [p for p in self.events if p > after][:limit]
        return [Positioned(self.log_name, p, Number(p, datetime.now(UTC))) for p in chosen]

    def head(self) -> int:
        return self.events[-1] if self.events else 0


@dataclass
class Unit:
    seen: list[int] = field(default_factory=list)
    tracked: tuple[str, int, int] | None = None

    def track(self, log: str, after: int, position: int) -> None:
        self.tracked = (log, after, position)


@dataclass
class View:
    """Applies a unit's events and position together, if the position is where it starts."""

    applied: list[int] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    gc_during_batches: set[bool] = field(default_factory=set)
    transient_errors: tuple[type[BaseException], ...] = ()

    def positions(self) -> dict[str, int]:
        return dict(self.stored)

    @contextmanager
    def unit_of_work(self) -> Iterator[Unit]:
        unit = Unit()
        yield unit
        self.gc_during_batches.add(gc.isenabled())
        assert unit.tracked is not None
        log, after, position = unit.tracked
        if self.stored.get(log, 0) != after:
            raise PositionMoved(f"{log} at {self.stored.get(log, 0)}, not {after}")
        self.applied += unit.seen
        self.stored[log] = position


class Numbers(Projection[Unit]):
    name = "numbers"
    contexts: ClassVar[tuple[str, ...]] = ("numbers",)

    @handles(Number)
    def see(self, event: Number, unit: Unit) -> None:
        unit.seen.append(event.value)


def numbers(log: Log, view: View, batch_size: int, max_batch_size: int | None = None) -> Any:
    return Worker(Numbers(), view, [log], batch_size=batch_size, max_batch_size=max_batch_size)  # type: ignore[list-item]


def test_far_behind_it_reads_what_is_left_up_to_the_largest_batch() -> None:
    log = Log("numbers", list(range(1, 2501)))
    view = View()

    projected = numbers(log, view, 100, 1000).catch_up()

    assert projected == 2500
    assert view.applied == list(range(1, 2501))
    assert [limit for _, limit in log.reads] == [100, 1000, 1000, 400]
    assert [after for after, _ in log.reads] == [0, 100, 1100, 2100]


def test_at_the_head_it_keeps_to_its_batch_size() -> None:
    log = Log("numbers", list(range(1, 6)))
    view = View()
    worker = numbers(log, view, 2, 1000)

    worker.catch_up()
    log.events += [6, 7, 8]
    worker.catch_up()

    assert view.applied == list(range(1, 9))
    assert max(limit for _, limit in log.reads) <= 4


def test_without_a_larger_batch_size_it_reads_batch_size_events() -> None:
    log = Log("numbers", list(range(1, 51)))
    view = View()

    numbers(log, view, 10).catch_up()

    assert {limit for _, limit in log.reads} == {10}
    assert view.applied == list(range(1, 51))


def test_a_batch_read_ahead_is_dropped_when_the_view_moved_meanwhile() -> None:
    log = Log("numbers", list(range(1, 301)))
    view = View()
    worker = numbers(log, view, 100, 100)
    worker.step()
    view.stored["numbers"] = 150  # another writer: the batch read ahead from 100 is stale

    with pytest.raises(PositionMoved):
        worker.step()
    worker.catch_up()

    assert view.applied == [*range(1, 101), *range(151, 301)]


def test_an_error_of_a_read_ahead_is_raised_by_the_step_that_takes_it() -> None:
    log = Log("numbers", list(range(1, 11)))
    ahead = ReadAhead()
    log.fail_next = ConnectionError("log store down")

    ahead.start(log, 0, 5)  # type: ignore[arg-type]

    with pytest.raises(ConnectionError):
        ahead.take(log, 0, 5)  # type: ignore[arg-type]
    assert [p.position for p in ahead.take(log, 0, 5)] == [1, 2, 3, 4, 5]  # type: ignore[arg-type]


def test_batches_run_without_the_cyclic_collector_which_is_left_as_it_was() -> None:
    log = Log("numbers", list(range(1, 101)))
    view = View()
    assert gc.isenabled()

    numbers(log, view, 10, 40).catch_up()

    assert view.gc_during_batches == {False}
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_unhandled_error_mid_batch_resumes_the_collector() -> None:
    def fail() -> None:
        with collection_paused():
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    assert gc.isenabled()
