"""Stored snapshots in the corpus: one per snapshotted aggregate at each class_version.

    python -m tests.evolution.snapshot_samples write --missing

A snapshot holds an aggregate's snapshot_state(); when its keys change, the aggregate's
class_version must change too (and an upcaster keeps older snapshots useful), or every
snapshot already stored is passed over and loads fall back to full replays.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from commands.base import ContextApplication
from commands.snapshots import StateSnapshot
from domain.base import Context, MarketplaceAggregate
from domain.cart import Cart
from domain.inventory import StockItem
from tests.evolution.samples import (
    AT,
    CORPUS,
    EXAMPLE_UUID,
    ORIGINATOR,
    Sample,
    corpus_mapper,
    import_packages,
)

CTX = Context(AT, "sample-actor", "system", "sample", "sample", "sample")
ORDERS = [UUID(int=n) for n in range(1, 4)]


def stock_item() -> StockItem:
    """A stock item with units received, held, sold, released and a purchase limit."""
    item = StockItem.open(EXAMPLE_UUID, EXAMPLE_UUID, CTX)
    item.receive(10, CTX)
    item.set_purchase_limit(5, CTX)
    for order in ORDERS:
        item.reserve(order, 1, AT + timedelta(hours=1), CTX, buyer_id=EXAMPLE_UUID)
    item.commit(ORDERS[0], CTX)
    item.release(ORDERS[1], "order expired", CTX)
    return item


def cart() -> Cart:
    """A cart with two lines."""
    made = Cart.create(ORIGINATOR, CTX)
    made.add_item(EXAMPLE_UUID, 2, "EUR", CTX)
    made.add_item(ORIGINATOR, 1, "EUR", CTX)
    return made


BUILDERS: dict[type[MarketplaceAggregate], Callable[[], MarketplaceAggregate]] = {
    StockItem: stock_item,
    Cart: cart,
}
"""How to make an example of each snapshotted aggregate (a new one adds its own)."""


def snapshotted() -> list[type[MarketplaceAggregate]]:
    """Every aggregate some context application snapshots."""
    import_packages()
    found: set[type[MarketplaceAggregate]] = set()
    stack: list[type[Any]] = [ContextApplication]
    while stack:
        app = stack.pop()
        stack.extend(app.__subclasses__())
        found.update(app.snapshotted)
    return sorted(found, key=lambda cls: cls.__qualname__)


def snapshot_sample(aggregate: MarketplaceAggregate) -> Sample:
    """The stored snapshot of the aggregate; its fingerprint is its state's keys."""
    snapshot = StateSnapshot.take(aggregate)
    stored = corpus_mapper().to_stored_event(snapshot)
    return Sample(
        topic=stored.topic,
        class_version=snapshot.state["class_version"],
        fingerprint=sorted(snapshot.state),
        originator_id=aggregate.id,
        originator_version=aggregate.version,
        state=stored.state,
    )


def snapshot_path(cls: type[Any], class_version: int) -> Path:
    """Where the snapshot sample of an aggregate class at a version lives."""
    return CORPUS / "snapshots" / f"{cls.__module__}.{cls.__qualname__}.v{class_version}.json"


def main(argv: list[str]) -> None:
    """Write the missing snapshot samples (see the module)."""
    if argv != ["write", "--missing"]:
        raise SystemExit(__doc__)
    for cls in snapshotted():
        sample = snapshot_sample(BUILDERS[cls]())
        path = snapshot_path(cls, sample.class_version)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(sample.to_json())
            print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
