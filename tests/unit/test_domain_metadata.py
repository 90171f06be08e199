"""Every aggregate starts at version 0 and every event carries the command's audit metadata."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest

from domain.base import EVENT_ID_NAMESPACE, Context, MarketplaceAggregate, event_id
from domain.cart import Cart
from domain.customer import Customer
from domain.inventory import StockItem
from domain.money import Money
from domain.product import Product
from domain.seller import Seller
from tests.unit.domain_support import AT, CTX, LATER, ctx_at, expected_meta, given, uid

OTHER_CTX = ctx_at(
    AT + timedelta(hours=1),
    actor="admin-1",
    role="admin",
    request_id="req-2",
    correlation_id="corr-2",
    causation_id="cause-2",
)
THIRD_CTX = ctx_at(AT + timedelta(hours=2), request_id="req-3", causation_id="cause-3")

# For each aggregate: how to create it, and two commands that each trigger one event.
SCENARIOS: dict[str, tuple[Callable[[Context], Any], Callable[[Any, Context], None], ...]] = {
    "seller": (
        lambda ctx: Seller.register(uid(1), "Acme", "sales@acme.test", ctx),
        lambda agg, ctx: agg.update_profile("Acme 2", "two@acme.test", ctx),
        lambda agg, ctx: agg.suspend("fraud", ctx),
    ),
    "product": (
        lambda ctx: Product.list(uid(2), uid(1), "Teapot", "", "kitchen", {}, Money(5, "EUR"), ctx),
        lambda agg, ctx: agg.change_price(Money(6, "EUR"), ctx),
        lambda agg, ctx: agg.delist("gone", ctx),
    ),
    "stock item": (
        lambda ctx: StockItem.open(uid(2), uid(1), ctx),
        lambda agg, ctx: agg.receive(10, ctx),
        lambda agg, ctx: agg.reserve(uid(3), 2, ctx.at + timedelta(minutes=5), ctx),
    ),
    "cart": (
        lambda ctx: Cart.create(uid(4), ctx),
        lambda agg, ctx: agg.add_item(uid(2), 1, "EUR", ctx),
        lambda agg, ctx: agg.clear(ctx),
    ),
    "customer": (
        lambda ctx: Customer.register(uid(5), "Ada", "ada@example.test", ctx),
        lambda agg, ctx: agg.add_address(uid(6), "1 High St", "", "Leeds", "LS1", "GB", ctx),
        lambda agg, ctx: agg.add_address(uid(7), "2 High St", "", "Leeds", "LS1", "GB", ctx),
    ),
}


def run(name: str) -> tuple[Any, list[Any], list[Context]]:
    create, first, second = SCENARIOS[name]
    aggregate = create(CTX)
    first(aggregate, OTHER_CTX)
    second(aggregate, THIRD_CTX)
    return aggregate, list(aggregate.collect_events()), [CTX, OTHER_CTX, THIRD_CTX]


@pytest.mark.parametrize("name", SCENARIOS)
def test_aggregates_start_at_version_zero(name: str) -> None:
    aggregate = SCENARIOS[name][0](CTX)
    assert MarketplaceAggregate.INITIAL_VERSION == 0
    assert type(aggregate).INITIAL_VERSION == 0
    assert aggregate.version == 0
    [created] = aggregate.collect_events()
    assert created.originator_version == 0
    assert aggregate.created_on == aggregate.modified_on == CTX.at


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_event_carries_the_metadata_of_its_own_command(name: str) -> None:
    aggregate, events, contexts = run(name)
    assert [e.originator_version for e in events] == [0, 1, 2]
    for version, (domain_event, ctx) in enumerate(zip(events, contexts, strict=True)):
        assert domain_event.originator_id == aggregate.id
        assert domain_event.meta == {
            "event_id": str(event_id(aggregate.id, version)),
            "actor": ctx.actor,
            "role": ctx.role,
            "request_id": ctx.request_id,
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
        }
        assert domain_event.meta == expected_meta(ctx, aggregate.id, version)
        assert domain_event.timestamp == ctx.at
        assert domain_event.occurred_at == ctx.at
    assert aggregate.modified_on == THIRD_CTX.at
    assert aggregate.created_on == CTX.at


@pytest.mark.parametrize("name", SCENARIOS)
def test_replaying_the_events_rebuilds_an_equal_aggregate(name: str) -> None:
    aggregate, events, _ = run(name)
    replayed = given(type(aggregate), *events)
    assert replayed == aggregate
    assert replayed is not aggregate


def test_event_ids_are_stable_and_unique_per_stream_and_version() -> None:
    stream, other = uid(10), uid(11)
    assert event_id(stream, 0) == event_id(UUID(int=10), 0)
    assert event_id(stream, 0) == uuid5(EVENT_ID_NAMESPACE, f"{stream}/0")
    ids = {event_id(s, v) for s in (stream, other) for v in range(100)}
    assert len(ids) == 200


def test_the_domain_never_reads_the_clock() -> None:
    long_ago = ctx_at(AT.replace(year=2001))
    item = StockItem.open(uid(2), uid(1), long_ago)
    item.receive(1, long_ago)
    item.reserve(uid(3), 1, long_ago.at + timedelta(seconds=1), long_ago)
    assert {e.timestamp for e in item.collect_events()} == {long_ago.at}


def test_context_meta_for_matches_event_id() -> None:
    assert CTX.meta_for(uid(9), 4)["event_id"] == str(event_id(uid(9), 4))
    assert LATER > AT
