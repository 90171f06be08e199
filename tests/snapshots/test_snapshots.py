"""Snapshots on real PostgreSQL: taken by the write path, equal to replays, only an aid."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest

from commands.snapshots import due
from domain.cart import cart_id_for
from domain.inventory import StockItem, stock_item_id
from tests.snapshots.support import (
    SELLER,
    carts,
    ctx,
    delete_snapshots,
    due_later,
    inventory,
    snapshot_versions,
    state,
)

pytestmark = pytest.mark.postgres
EVERY = 10
BUYERS = 8


def test_a_snapshot_is_due_at_the_last_multiple_a_batch_reaches() -> None:
    class At:
        def __init__(self, version: int) -> None:
            self.originator_version = version

    assert due([At(0)], 10) is None
    assert due([At(8), At(9)], 10) is None
    assert due([At(9), At(10), At(11)], 10) == 10
    assert due([At(19), At(20), At(29), At(30)], 10) == 30
    assert due([At(10)], 0) is None


def trade(postgres_url: str, product: UUID, orders: int) -> None:
    """Receive units, then reserve, commit and release from BUYERS threads at once (the
    write path batches one stream's concurrent changes and group-commits appends)."""
    with inventory(postgres_url, EVERY) as app:
        app.receive_stock(product, SELLER, orders * 2, ctx())

        def buy(n: int) -> None:
            order = uuid4()
            app.reserve(product, order, 1, due_later(), ctx(uuid4(), "shopper"))
            if n % 3:
                app.commit(product, order, ctx(uuid4(), "system"))
            else:
                app.release(product, order, "order expired", ctx(uuid4(), "system"))

        with ThreadPoolExecutor(BUYERS) as pool:
            list(pool.map(buy, range(orders)))


def test_the_write_path_snapshots_every_n_events_as_a_replay_gives(postgres_url: str) -> None:
    product = uuid4()
    item_id = stock_item_id(product)
    trade(postgres_url, product, 40)

    with inventory(postgres_url, EVERY) as app, inventory(postgres_url, 0) as plain:
        last = plain.stock_of(product).version
        versions = snapshot_versions(app, item_id)
        assert plain.snapshots is None
        assert versions == list(range(EVERY, last + 1, EVERY))
        assert app.snapshots is not None
        for snapshot in app.snapshots.get(item_id):
            replayed = plain.repository.get(item_id, version=snapshot.originator_version)
            assert state(snapshot.mutate(None)) == state(replayed)
        assert state(app.stock_of(product)) == state(plain.stock_of(product))


def test_deleting_every_snapshot_changes_nothing_but_speed(postgres_url: str) -> None:
    product = uuid4()
    trade(postgres_url, product, 25)
    with inventory(postgres_url, EVERY) as app:
        with_snapshots = state(app.stock_of(product))

    assert delete_snapshots(postgres_url, "inventory") >= 5

    with inventory(postgres_url, EVERY) as app:
        assert snapshot_versions(app, stock_item_id(product)) == []
        assert state(app.stock_of(product)) == with_snapshots
        for _ in range(EVERY):
            app.reserve(product, uuid4(), 1, due_later(), ctx(uuid4(), "shopper"))
        assert snapshot_versions(app, stock_item_id(product)) == [60]  # from the events


def test_a_cart_loads_the_same_with_and_without_snapshots(postgres_url: str) -> None:
    shopper = uuid4()
    products = [uuid4() for _ in range(4)]
    with carts(postgres_url, 3) as app:
        app.create_cart(shopper, ctx(shopper, "shopper"))
        for round_ in range(5):
            for product in products:
                app.add_item(
                    cart_id_for(shopper), product, 1 + round_, "EUR", ctx(shopper, "shopper")
                )
            app.clear(cart_id_for(shopper), ctx(shopper, "shopper"))
        app.add_item(cart_id_for(shopper), products[0], 2, "EUR", ctx(shopper, "shopper"))

    with carts(postgres_url, 3) as app, carts(postgres_url, 0) as plain:
        assert len(snapshot_versions(app, cart_id_for(shopper))) >= 8
        cart = app.repository.get(cart_id_for(shopper))
        assert state(cart) == state(plain.repository.get(cart_id_for(shopper)))
        assert cart.lines == {products[0]: 2}


def test_a_snapshot_of_an_older_class_version_is_upcast_or_passed_over(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = uuid4()
    item_id = stock_item_id(product)
    trade(postgres_url, product, 8)
    with inventory(postgres_url, EVERY) as app:
        assert snapshot_versions(app, item_id)
    monkeypatch.setattr(StockItem, "class_version", 2, raising=False)

    with inventory(postgres_url, EVERY) as app, inventory(postgres_url, 0) as plain:
        assert app.snapshots is not None
        assert list(app.snapshots.get(item_id)) == []  # no upcaster: passed over
        assert state(app.stock_of(product)) == state(plain.stock_of(product))

    upcast: list[dict[str, Any]] = []
    monkeypatch.setattr(StockItem, "upcast_v1_v2", staticmethod(upcast.append), raising=False)
    with inventory(postgres_url, EVERY) as app, inventory(postgres_url, 0) as plain:
        assert app.snapshots is not None
        assert [s.originator_version for s in app.snapshots.get(item_id)] == [EVERY]
        upcast.clear()
        assert state(app.stock_of(product)) == state(plain.stock_of(product))
        assert len(upcast) == 1
        assert upcast[0]["received"] == 16


def test_a_snapshot_that_no_longer_restores_is_passed_over(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = uuid4()
    trade(postgres_url, product, 8)

    def restore_a_changed_shape(item: StockItem, state: dict[str, Any]) -> None:
        item.received = state["units_received"]  # a key older snapshots do not hold

    monkeypatch.setattr(StockItem, "restore_state", restore_a_changed_shape)

    with inventory(postgres_url, EVERY) as app, inventory(postgres_url, 0) as plain:
        assert snapshot_versions(app, stock_item_id(product)) == [EVERY]
        assert app.snapshots is not None
        assert list(app.snapshots.get(stock_item_id(product))) == []
        assert state(app.stock_of(product)) == state(plain.stock_of(product))
