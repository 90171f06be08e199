"""Per-stream batching: concurrent changes of one stock item share loads and appends, exactly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import ApplicationRecorder

from benchmarks.naive_write import NaiveWritePath
from commands.batching import Batcher
from commands.inventory import InventoryApplication
from commands.stream_batch import BatchedWritePath
from domain.base import Context
from domain.errors import DomainError, RuleViolated
from domain.inventory import StockItem, stock_item_id

SELLER = uuid4()
UNITS = 10
BUYERS = 40


def ctx() -> Context:
    rid = uuid4().hex
    return Context(datetime.now(UTC), str(SELLER), "seller", rid, rid, rid)


class CountingInventory(InventoryApplication):
    """Counts the appends that reach the recorder, and makes each take a moment."""

    appends = 0

    def save(self, *args: Any, **kwargs: Any) -> Any:
        type(self).appends += 1
        time.sleep(0.005)
        return super().save(*args, **kwargs)


def inventory(mode: str, recorder: ApplicationRecorder | None = None) -> CountingInventory:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo", "GROUP_COMMIT": "n"}
    path = NaiveWritePath if mode == "naive" else BatchedWritePath
    return CountingInventory(env, shared_recorder=recorder, write_path=path)


@pytest.fixture(autouse=True)
def count_from_zero() -> Iterator[None]:
    CountingInventory.appends = 0
    yield


def stocked(app: InventoryApplication, units: int = UNITS) -> UUID:
    product = uuid4()
    app.receive_stock(product, SELLER, units, ctx())
    CountingInventory.appends = 0
    return product


def reserve_all(apps: list[CountingInventory], product: UUID, buyers: int) -> list[Any]:
    """Every buyer reserves one unit at once, through the apps in turn; outcome or error."""
    start = threading.Barrier(buyers)
    expires = datetime.now(UTC) + timedelta(minutes=15)

    def buy(n: int) -> Any:
        start.wait()
        try:
            return apps[n % len(apps)].reserve(product, uuid4(), 1, expires, ctx())
        except DomainError as error:
            return error

    with ThreadPoolExecutor(buyers) as pool:
        return list(pool.map(buy, range(buyers)))


@pytest.mark.parametrize("mode", ["batched", "naive"])
def test_exactly_the_stock_is_reserved_and_every_buyer_is_answered(mode: str) -> None:
    app = inventory(mode)
    product = stocked(app)
    answers = reserve_all([app], product, BUYERS)
    granted = [a for a in answers if not isinstance(a, DomainError)]
    assert len(granted) == UNITS
    assert all(isinstance(a, RuleViolated) for a in answers if a not in granted)
    assert len({a.position for a in granted}) == UNITS
    item = app.stock_of(product)
    assert (item.reserved, item.available) == (UNITS, 0)


def test_concurrent_reservations_share_appends() -> None:
    app = inventory("batched")
    product = stocked(app, BUYERS)
    opened = app.stock_of(product).version
    answers = reserve_all([app], product, BUYERS)
    assert all(not isinstance(a, DomainError) for a in answers)
    assert CountingInventory.appends < BUYERS / 2
    assert sorted(a.version for a in answers) == list(range(opened + 1, opened + 1 + BUYERS))


@pytest.mark.parametrize("mode", ["batched", "naive"])
def test_two_processes_on_one_stream_stay_exact(mode: str) -> None:
    first = inventory(mode)
    second = inventory(mode, first.recorder)
    product = stocked(first)
    answers = reserve_all([first, second], product, BUYERS)
    assert sum(not isinstance(a, DomainError) for a in answers) == UNITS
    item = second.stock_of(product)
    assert (item.reserved, item.available) == (UNITS, 0)


def test_a_change_that_fails_half_way_leaves_the_others_whole() -> None:
    app = inventory("batched")
    product = stocked(app, 5)
    expires = datetime.now(UTC) + timedelta(minutes=15)

    def reserve_then_fail(item: StockItem) -> None:
        item.reserve(uuid4(), 1, expires, ctx())
        raise RuleViolated("refused after raising an event")

    def change(n: int) -> Any:
        try:
            if n == 3:
                return app.change(stock_item_id(product), StockItem, reserve_then_fail)
            return app.reserve(product, uuid4(), 1, expires, ctx())
        except DomainError as error:
            return error

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(change, range(6)))
    assert isinstance(answers[3], RuleViolated)
    assert sum(not isinstance(a, DomainError) for a in answers) == 5
    assert app.stock_of(product).reserved == 5


def test_the_lead_passes_on_after_one_batch() -> None:
    batches: list[list[int]] = []
    first_running = threading.Event()
    release = threading.Event()

    def run(key: Any, batch: list[Any]) -> None:
        batches.append([q.work for q in batch])
        if len(batches) == 1:
            first_running.set()
            release.wait(5)
        for queued in batch:
            queued.result = queued.work

    batcher = Batcher(run, 256)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(batcher.submit, "stream", 0)
        first_running.wait(5)
        later = [pool.submit(batcher.submit, "stream", n) for n in range(1, 5)]
        while batcher.waiting("stream") < 5:
            time.sleep(0.001)
        release.set()
        assert first.result(5) == 0
        assert [f.result(5) for f in later] == [1, 2, 3, 4]
    assert batches == [[0], [1, 2, 3, 4]]
