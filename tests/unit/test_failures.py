"""Every error a worker meets is transient, poison or a bug; a poison event gets the policy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

import psycopg
import psycopg.errors
import pytest
import redis
from eventsourcing.persistence import OperationalError as LibraryOperationalError
from eventsourcing.utils import TopicError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import NotFoundError
from psycopg_pool import PoolTimeout

from domain.base import event_id
from projections.failures import (
    Failed,
    Kind,
    Policy,
    ProjectionStopped,
    State,
    classify,
    sqlstate,
)
from projections.handlers import handles
from projections.log import TRANSIENT as LOG_TRANSIENT
from projections.log import Positioned, Undecodable
from projections.runtime import PositionMoved, Projection, Worker
from projections.stores.opensearch.errors import TRANSIENT as OPENSEARCH_TRANSIENT
from projections.stores.opensearch.errors import BulkWriteFailed, OpenSearchUnavailable
from projections.stores.postgres.unit import TRANSIENT as POSTGRES_TRANSIENT
from projections.stores.redis.unit import TRANSIENT as REDIS_TRANSIENT

STORES = (*POSTGRES_TRANSIENT, *REDIS_TRANSIENT, *OPENSEARCH_TRANSIENT, *LOG_TRANSIENT)


def wrapped(error: Exception) -> LibraryOperationalError:
    """error as the event store library raises it: wrapped, the original as its cause."""
    try:
        raise LibraryOperationalError(str(error)) from error
    except LibraryOperationalError as wrapper:
        return wrapper


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.errors.AdminShutdown(),
        psycopg.errors.SerializationFailure(),
        psycopg.errors.DeadlockDetected(),
        psycopg.errors.ReadOnlySqlTransaction(),
        psycopg.errors.QueryCanceled(),
        psycopg.errors.TooManyConnections(),
        psycopg.errors.LockNotAvailable(),
        PoolTimeout("no connection in 5 s"),
        wrapped(psycopg.errors.ConnectionFailure()),
        redis.ConnectionError("refused"),
        redis.TimeoutError("timeout"),
        redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
        redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
        redis.exceptions.MovedError("3999 127.0.0.1:6381"),
        redis.exceptions.AskError("3999 127.0.0.1:6381"),
        redis.exceptions.TryAgainError("slot migrating"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        redis.BusyLoadingError("loading"),
        OpenSearchConnectionError("N/A", "refused", None),
        OpenSearchUnavailable("503 no_shard_available_action_exception"),
        PositionMoved("catalog is at 9, not 7"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_store_unavailable_for_now_is_transient(error: Exception) -> None:
    assert classify(error, (PositionMoved, *STORES)) is Kind.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.ProgramLimitExceeded("index row size 3120 exceeds btree maximum 2704"),
        psycopg.errors.NumericValueOutOfRange(),
        psycopg.errors.UntranslatableCharacter(),
        wrapped(psycopg.errors.ProgramLimitExceeded()),
        BulkWriteFailed("p1: mapper_parsing_exception"),
        TopicError("nowhere:Gone"),
        KeyError("seller_id"),
        ValueError("bad currency"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_of_the_event_is_poison(error: Exception) -> None:
    assert classify(error, STORES) is Kind.POISON


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UndefinedTable(),
        psycopg.errors.UniqueViolation(),
        psycopg.errors.SyntaxError(),
        psycopg.errors.DatabaseDropped(),
        psycopg.ProgrammingError("no results to fetch"),
        redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        NotFoundError(404, "index_not_found_exception", {}),
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_other_store_error_is_a_bug(error: Exception) -> None:
    assert classify(error, STORES) is Kind.BUG


def test_psycopg_errors_go_by_sqlstate_class_not_by_python_class() -> None:
    limit, lost = psycopg.errors.ProgramLimitExceeded(), psycopg.errors.ConnectionFailure()

    assert isinstance(limit, psycopg.OperationalError)
    assert isinstance(lost, psycopg.OperationalError)
    assert (sqlstate(limit), sqlstate(wrapped(lost))) == ("54000", "08006")
    assert classify(limit, POSTGRES_TRANSIENT) is Kind.POISON
    assert classify(lost, POSTGRES_TRANSIENT) is Kind.TRANSIENT


@dataclass(frozen=True)
class Number:
    value: int
    originator_id: UUID
    originator_version: int
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Log:
    log_name: str
    items: list[Positioned]
    transient_errors: tuple[type[BaseException], ...] = ()

    def read(self, after: int, limit: int) -> list[Positioned]:
        return [item for item in self.items if item.position > after][:limit]

    def head(self) -> int:
        return self.items[-1].position


@dataclass
class Unit:
    values: list[int] = field(default_factory=list)
    tracked: tuple[str, int, int] | None = None

    def track(self, log: str, after: int, position: int) -> None:
        self.tracked = (log, after, position)


@dataclass
class View:
    applied: list[int] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)
    commits: int = 0
    transient_errors: tuple[type[BaseException], ...] = ()

    def positions(self) -> dict[str, int]:
        return dict(self.stored)

    @contextmanager
    def unit_of_work(self) -> Iterator[Unit]:
        unit = Unit()
        yield unit
        assert unit.tracked is not None
        log, after, position = unit.tracked
        if self.stored.get(log, 0) != after:
            raise PositionMoved(log)
        self.applied += unit.values
        self.stored[log] = position
        self.commits += 1


class Numbers(Projection[Any]):
    """Adds each number to the view; 13 is unlucky: its handler raises."""

    name = "numbers"
    contexts: ClassVar[tuple[str, ...]] = ("numbers",)

    @handles(Number)
    def add(self, event: Number, unit: Unit) -> None:
        if event.value == 13:
            raise ValueError("unlucky")
        unit.values.append(event.value)


@dataclass
class Book:
    """The dead letters in memory."""

    rows: dict[tuple[str, str, int], tuple[Failed, State, int]] = field(default_factory=dict)
    transient_errors: tuple[type[BaseException], ...] = ()

    def record(self, failed: Failed, state: State) -> None:
        key = (failed.projection, failed.log, failed.position)
        attempts = self.rows[key][2] + 1 if key in self.rows else 1
        self.rows[key] = (failed, state, attempts)

    def skipped(self, projection: str, log: str, position: int) -> bool:
        row = self.rows.get((projection, log, position))
        return row is not None and row[1] is State.SKIPPED

    def stopped(self, projection: str) -> list[tuple[str, int]]:
        return [(log, at) for (p, log, at), row in self.rows.items() if row[1] is State.STOPPED]

    def passed(self, projection: str, log: str, position: int) -> None:
        for key, (failed, state, attempts) in list(self.rows.items()):
            if state is State.STOPPED and key[1] in ("", log) and key[2] <= position:
                self.rows[key] = (failed, State.RETRIED, attempts)

    def parked_count(self, projection: str) -> int:
        return sum(row[1] is State.PARKED for row in self.rows.values())


STREAM = uuid4()


def numbers(*values: int | str) -> Log:
    """A log of these numbers at positions 1, 2, ...; a string is an undecodable event."""
    items = []
    for position, value in enumerate(values, start=1):
        event: Any = (
            Undecodable(STREAM, position, "nowhere:Gone", f"TopicError: {value}")
            if isinstance(value, str)
            else Number(value, STREAM, position)
        )
        items.append(Positioned("numbers", position, event))
    return Log("numbers", items)


def worker(log: Log, view: View, book: Book | None, policy: Policy, batch: int = 100) -> Worker:
    return Worker(Numbers(), view, [log], batch_size=batch, failures=book, policy=policy)  # type: ignore[list-item]


def test_stop_commits_the_events_before_the_poison_one_and_stops_at_it() -> None:
    view, book = View(), Book()
    log = numbers(*range(1, 21))

    with pytest.raises(ProjectionStopped) as stopped:
        worker(log, view, book, Policy.STOP).catch_up()

    assert view.applied == list(range(1, 13))
    assert view.stored == {"numbers": 12}
    failed, state, attempts = book.rows[("numbers", "numbers", 13)]
    assert (state, attempts, failed.kind) == (State.STOPPED, 1, Kind.POISON)
    assert failed.error == "ValueError: unlucky"
    assert failed.event_id == str(event_id(STREAM, 13))
    assert failed.topic.endswith("Number") and failed.stream == f"{STREAM}/13"
    assert stopped.value.failed == failed
    assert "numbers stopped at numbers 13 (poison): ValueError: unlucky" in str(stopped.value)


def test_each_restart_meets_the_stop_again_and_counts_the_attempt() -> None:
    view, book = View(), Book()
    log = numbers(*range(1, 21))
    for _ in range(3):
        with pytest.raises(ProjectionStopped):
            worker(log, view, book, Policy.STOP).catch_up()

    assert book.rows[("numbers", "numbers", 13)][1:] == (State.STOPPED, 3)
    assert view.applied == list(range(1, 13))


def test_park_records_the_poison_event_and_goes_on_past_it() -> None:
    view, book = View(), Book()
    log = numbers(*range(1, 31))

    worker(log, view, book, Policy.PARK).catch_up()

    assert view.applied == [n for n in range(1, 31) if n != 13]
    assert view.stored == {"numbers": 30}
    assert [(key, row[1]) for key, row in book.rows.items()] == [
        (("numbers", "numbers", 13), State.PARKED)
    ]


def test_an_undecodable_event_is_poison_at_its_own_position() -> None:
    view, book = View(), Book()
    log = numbers(1, 2, "broken", 4, "also broken", 6)

    worker(log, view, book, Policy.PARK).catch_up()

    assert view.applied == [1, 2, 4, 6]
    parked = {key[2]: row[0] for key, row in book.rows.items() if row[1] is State.PARKED}
    assert sorted(parked) == [3, 5]
    assert parked[3].topic == "nowhere:Gone" and parked[3].error == "TopicError: broken"


def test_a_skipped_event_is_passed_over_and_a_stop_passed_is_retried() -> None:
    view, book = View(), Book()
    log = numbers(*range(1, 21))
    with pytest.raises(ProjectionStopped):
        worker(log, view, book, Policy.STOP).catch_up()
    failed, _, attempts = book.rows[("numbers", "numbers", 13)]
    book.rows[("numbers", "numbers", 13)] = (failed, State.SKIPPED, attempts)

    worker(log, view, book, Policy.STOP).catch_up()

    assert view.applied == [n for n in range(1, 21) if n != 13]
    assert book.rows[("numbers", "numbers", 13)][1] is State.SKIPPED


def test_without_a_book_a_poison_event_stops_whatever_the_policy() -> None:
    view = View()

    with pytest.raises(ProjectionStopped):
        worker(numbers(*range(1, 21)), view, None, Policy.PARK).catch_up()
    assert view.stored == {"numbers": 12}


def test_a_large_batch_is_split_in_halves_not_applied_event_by_event() -> None:
    view, book = View(), Book()
    log = numbers(*range(1, 1025))

    worker(log, view, book, Policy.PARK, batch=1024).catch_up()

    assert view.applied == [n for n in range(1, 1025) if n != 13]
    assert view.commits < 40


def test_a_bug_stops_the_worker_and_is_recorded_where_it_happened() -> None:
    class Broken(View):
        def unit_of_work(self) -> Any:
            raise psycopg.errors.UndefinedTable("relation does not exist")

    book = Book()
    worker_ = worker(numbers(1, 2, 3), Broken(), book, Policy.PARK)
    stop = threading.Event()

    with pytest.raises(ProjectionStopped) as stopped:
        worker_.run(stop)

    failed, state, _ = book.rows[("numbers", "numbers", 1)]
    assert (state, failed.kind) == (State.STOPPED, Kind.BUG)
    assert failed.error.startswith("UndefinedTable")
    assert isinstance(stopped.value.__cause__, psycopg.errors.UndefinedTable)
