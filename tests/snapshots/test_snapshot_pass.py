"""A stream that grew long before snapshots were on gets its first snapshot from the snapshot
pass (`marketplace snapshots take`), not from the request that crosses the interval."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

import pytest

from commands.inventory import InventoryApplication
from commands.snapshots import REQUEST_REPLAY_INTERVALS, short_replay
from domain.inventory import stock_item_id
from tests.conftest import run_marketplace
from tests.snapshots.support import SELLER, ctx, due_later, inventory, snapshot_versions, state

pytestmark = pytest.mark.postgres
EVERY = 5
LONG = REQUEST_REPLAY_INTERVALS * EVERY + 10


def reserve(app: InventoryApplication, product: UUID, times: int) -> None:
    for _ in range(times):
        app.reserve(product, uuid4(), 1, due_later(), ctx(uuid4(), "shopper"))


def long_stream(postgres_url: str) -> UUID:
    """A stock item of more than LONG events, written with snapshots off."""
    product = uuid4()
    with inventory(postgres_url, 0) as plain:
        plain.receive_stock(product, SELLER, 10 * LONG, ctx())
        reserve(plain, product, LONG)
    return product


def test_a_replay_is_short_within_the_intervals_a_request_may_pay() -> None:
    assert short_replay(EVERY, None, EVERY)
    assert short_replay(REQUEST_REPLAY_INTERVALS * EVERY - 1, None, EVERY)
    assert not short_replay(REQUEST_REPLAY_INTERVALS * EVERY, None, EVERY)
    assert short_replay(1000 + EVERY, 1000, EVERY)


def test_the_pass_takes_the_first_snapshot_and_requests_take_the_next(postgres_url: str) -> None:
    product = long_stream(postgres_url)
    item = stock_item_id(product)

    with inventory(postgres_url, EVERY) as app:
        reserve(app, product, EVERY)  # crosses a due version: deferred, no long replay
        assert snapshot_versions(app, item) == []

        assert app.take_snapshots() == 1
        head = app.stock_of(product).version
        assert snapshot_versions(app, item) == [head]
        assert app.take_snapshots() == 0  # none is an interval behind

        reserve(app, product, EVERY)  # a short replay from the pass's snapshot: taken
        assert len(snapshot_versions(app, item)) == 2

    with inventory(postgres_url, EVERY) as app, inventory(postgres_url, 0) as plain:
        assert state(app.stock_of(product)) == state(plain.stock_of(product))


def test_the_command_line_takes_snapshots(postgres_url: str) -> None:
    product = long_stream(postgres_url)
    env = {"MARKETPLACE_POSTGRES_URL": postgres_url, "MARKETPLACE_SNAPSHOT_EVERY": str(EVERY)}

    taken = run_marketplace("snapshots", "take", "--json", env=env)

    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["taken"] == {"inventory": 1, "carts": 0}
    with inventory(postgres_url, EVERY) as app:
        assert snapshot_versions(app, stock_item_id(product)) == [app.stock_of(product).version]
