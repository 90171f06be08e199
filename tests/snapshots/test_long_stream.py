"""A stock item of 100,000 events on real PostgreSQL loads to the same state either way."""

from __future__ import annotations

from uuid import uuid4

import pytest

from benchmarks.snapshots import TAIL, bulk_stream, finish_through_the_write_path
from domain.inventory import stock_item_id
from tests.snapshots.support import inventory, snapshot_versions, state

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
EVENTS = 100_000
EVERY = 500


def test_a_stream_of_100000_events_loads_the_same_with_and_without_snapshots(
    postgres_url: str,
) -> None:
    product, seller = uuid4(), uuid4()
    with inventory(postgres_url, EVERY) as app:
        assert bulk_stream(app, product, seller, EVENTS + 1 - TAIL) == EVENTS + 1 - TAIL
        assert snapshot_versions(app, stock_item_id(product)) == []
        finish_through_the_write_path(app, product, seller)
        assert snapshot_versions(app, stock_item_id(product)) == []  # left to the pass
        assert app.take_snapshots() == 1
        assert snapshot_versions(app, stock_item_id(product)) == [EVENTS]

    with inventory(postgres_url, 0) as plain:
        replayed = state(plain.stock_of(product))
    with inventory(postgres_url, EVERY) as app:
        from_snapshot = state(app.stock_of(product))

    assert replayed["_version"] == EVENTS
    assert from_snapshot == replayed
