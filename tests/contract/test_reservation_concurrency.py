"""Concurrent reservations never oversell, even from several independent command processes.

Four Commands instances share one PostgreSQL schema, each with its own connection pools
and its own in-process locks, so writers in different instances only meet through the
store's optimistic concurrency, as separate processes would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import RecordConflictError

from commands.base import Outcome
from commands.services import Commands
from domain.base import Context
from domain.errors import InsufficientStock
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings

pytestmark = pytest.mark.postgres

INSTANCES = 4
RESERVATIONS = 200
STOCK = 50
ROUNDS = 20
AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


def context(actor: str) -> Context:
    tag = uuid4().hex
    return Context(AT, actor, "customer", f"req-{tag}", f"corr-{tag}", f"cause-{tag}")


class ConflictCounter:
    """Counts the inventory appends that lost an optimistic-concurrency race."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def wrap(self, commands: Commands) -> None:
        recorder = commands.inventory.recorder
        insert_events = recorder.insert_events

        def counting_insert_events(*args: Any, **kwargs: Any) -> Any:
            try:
                return insert_events(*args, **kwargs)
            except RecordConflictError:
                with self._lock:
                    self.count += 1
                raise

        recorder.insert_events = counting_insert_events  # type: ignore[method-assign]


@pytest.fixture
def instances(postgres_url: str) -> Iterator[list[Commands]]:
    """Independent command sides on one schema, each with its own pools."""
    settings = Settings(postgres=PostgresSettings(pool_size=2, max_overflow=6))
    env = eventsourcing_env(settings, postgres_url)
    opened = [Commands(env) for _ in range(INSTANCES)]
    try:
        yield opened
    finally:
        for commands in opened:
            commands.close()


def stocked_product(commands: Commands) -> UUID:
    """A new product of a new seller with STOCK units received."""
    seller_id, product_id = uuid4(), uuid4()
    ctx = Context(AT, str(seller_id), "seller", "req-setup", "corr-setup", "cause-setup")
    commands.catalog.register_seller(seller_id, "Stocky", "stocky@example.com", ctx)
    commands.catalog.list_product(
        product_id, seller_id, "Lamp", "", "lighting", {}, Money(2500, "EUR"), ctx
    )
    commands.receive_stock(product_id, STOCK, ctx)
    return product_id


def reserve_concurrently(
    instances: list[Commands], product_id: UUID
) -> tuple[dict[UUID, Outcome], int, list[BaseException]]:
    """RESERVATIONS threads, spread over the instances, each reserve one unit at once."""
    succeeded: dict[UUID, Outcome] = {}
    refused: list[UUID] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(RESERVATIONS)

    def reserve(commands: Commands, order_id: UUID) -> None:
        try:
            start.wait()
            outcome = commands.inventory.reserve(
                product_id, order_id, 1, AT + timedelta(minutes=15), context(f"buyer-{order_id}")
            )
        except InsufficientStock:
            with lock:
                refused.append(order_id)
        except BaseException as e:
            with lock:
                unexpected.append(e)
        else:
            with lock:
                succeeded[order_id] = outcome

    threads = [
        threading.Thread(target=reserve, args=(instances[i % len(instances)], uuid4()))
        for i in range(RESERVATIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return succeeded, len(refused), unexpected


def test_concurrent_reservations_from_several_instances_never_oversell(
    instances: list[Commands],
) -> None:
    conflicts = ConflictCounter()
    for commands in instances:
        conflicts.wrap(commands)

    for round_no in range(ROUNDS):
        product_id = stocked_product(instances[round_no % INSTANCES])

        succeeded, refused, unexpected = reserve_concurrently(instances, product_id)

        assert unexpected == []
        assert (len(succeeded), refused) == (STOCK, RESERVATIONS - STOCK)
        versions = sorted(outcome.version for outcome in succeeded.values())
        assert versions == list(range(2, 2 + STOCK))

        item = instances[-1].inventory.stock_of(product_id)
        assert item.available == 0
        assert item.sold + item.reserved == STOCK
        assert set(item.reservations) == set(succeeded)

        events = list(instances[0].inventory.events.get(stock_item_id(product_id)))
        assert [e.originator_version for e in events] == list(range(len(events)))
        reserved = [e for e in events if isinstance(e, StockItem.UnitsReserved)]
        assert len(reserved) == STOCK
        assert {e.order_id for e in reserved} == set(succeeded)

    assert conflicts.count > 0
