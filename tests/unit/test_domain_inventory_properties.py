"""Property: whatever commands arrive, a stock item never holds more units than it received."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.inventory import StockItem
from tests.unit import domain_support as support
from tests.unit.domain_support import AT, ctx_at, uid

ORDERS = [uid(0x0D0 + n) for n in range(3)]

# Mostly valid quantities, so that reservations succeed often; sometimes invalid ones.
valid = st.integers(1, 12)
quantities = st.one_of(valid, valid, valid, st.sampled_from([0, -1, True, 2.0, 10_001]))
orders = st.sampled_from(ORDERS)
reasons = st.sampled_from(["recount", "expired", "cancelled", ""])
reserve = st.tuples(st.just("reserve"), orders, quantities, st.integers(-2, 30))
commit = st.tuples(st.just("commit"), orders)
# "edge" moves are sized from the current state: `available + k` units, so that both sides of
# the reserved + sold <= received boundary are tried often.
commands = st.one_of(
    st.tuples(st.just("receive"), quantities),
    st.tuples(st.just("adjust"), st.integers(-15, 15), reasons),
    st.tuples(st.just("adjust_edge"), st.integers(-1, 2), reasons),
    reserve,
    reserve,
    st.tuples(st.just("reserve_edge"), orders, st.integers(-1, 2)),
    st.tuples(st.just("release"), orders, reasons),
    commit,
    commit,
)


def apply(item: StockItem, command: tuple[Any, ...], minute: int) -> None:
    ctx = ctx_at(AT + timedelta(minutes=minute), request_id=f"req-{minute}")
    name, *args = command
    if name == "reserve":
        order, quantity, expires_in = args
        item.reserve(order, quantity, ctx.at + timedelta(minutes=expires_in), ctx)
    elif name == "reserve_edge":
        order, k = args
        item.reserve(order, item.available + k, ctx.at + timedelta(minutes=5), ctx)
    elif name == "adjust_edge":
        k, reason = args
        item.adjust(-(item.available + k), reason, ctx)
    else:
        getattr(item, name)(*args, ctx)


def assert_invariant(item: StockItem) -> None:
    assert item.reserved + item.sold <= item.received
    assert item.available >= 0
    assert item.sold >= 0
    assert all(r.quantity > 0 for r in item.reservations.values())
    assert not set(item.committed_orders) & set(item.reservations)
    assert not item.released_orders & set(item.reservations)


def assert_each_order_is_reserved_once_and_settled_once(events: list[Any]) -> None:
    per_order: dict[Any, list[str]] = {}
    for e in events:
        if hasattr(e, "order_id"):
            per_order.setdefault(e.order_id, []).append(type(e).__name__)
    for names in per_order.values():
        assert names in (
            ["UnitsReserved"],
            ["UnitsReserved", "ReservationReleased"],
            ["UnitsReserved", "ReservationCommitted"],
        ), names


@settings(max_examples=200, deadline=None, database=None)
@given(st.integers(0, 30), st.lists(commands, min_size=5, max_size=60))
def test_stock_item_invariant_holds_for_any_command_sequence(
    initial_stock: int, sequence: list[tuple[Any, ...]]
) -> None:
    item = StockItem.open(uid(0x9D), uid(0x5E11E4), ctx_at(AT))
    if initial_stock:
        item.receive(initial_stock, ctx_at(AT))
    for minute, command in enumerate(sequence, start=1):
        before = copy.deepcopy(item)
        try:
            apply(item, command, minute)
        except DomainError:
            assert item == before, "a refused command changed the stock item"
        assert_invariant(item)
    events = list(item.collect_events())
    assert [e.originator_version for e in events] == list(range(len(events)))
    assert_each_order_is_reserved_once_and_settled_once(events)
    replayed = support.given(StockItem, *events)
    assert replayed == item
    assert_invariant(replayed)
