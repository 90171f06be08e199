"""The checkout benchmark's outcome: following the logs until settled, then the invariants."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from benchmarks.checkout_shop import Call, Plan, log
from commands.services import Commands
from domain.cart import Cart, cart_id_for
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem, stock_item_id
from domain.order import Order
from projections.log import ContextLog

LOGS = ("orders", "inventory", "carts")
BAD_ENDS = (Order.Rejected, Order.PaymentFailed, Order.Expired, Order.Cancelled)


class Follower:
    """Reads, decodes and keeps every event appended to the logs after the given positions."""

    def __init__(self, env: dict[str, str], names: Sequence[str]) -> None:
        self.logs = {name: ContextLog(env, name) for name in names}
        self.start = {name: context_log.head() for name, context_log in self.logs.items()}
        self.positions = dict(self.start)
        self.events: dict[str, list[Any]] = {name: [] for name in names}

    def poll(self) -> int:
        """Read what is new in every log; return how many events."""
        total = 0
        for name, context_log in self.logs.items():
            while batch := context_log.read(self.positions[name], 1000):
                self.events[name].extend(item.event for item in batch)
                self.positions[name] = batch[-1].position
                total += len(batch)
        return total

    def of(self, name: str, kind: type | tuple[type, ...]) -> list[Any]:
        """The events of one type in one log."""
        return [e for e in self.events[name] if isinstance(e, kind)]

    def close(self) -> None:
        """Close every log."""
        for context_log in self.logs.values():
            context_log.close()


@dataclass
class Settled:
    """What the logs said when the wait ended."""

    done: bool
    confirmed: int
    failed: int
    committed: int
    fulfilments: int
    observed: datetime


def wait_settled(
    follower: Follower, plan: Plan, orders: set[UUID], timeout: float, started: float
) -> Settled:
    """Follow the logs until every order is confirmed (or failed), sold and handed to sellers."""
    lines = sum(len(plan.carts[s]) for s in plan.carts)
    sellers = sum(plan.sellers_in(s) for s in plan.carts)
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    while True:
        follower.poll()
        confirmed = {e.originator_id for e in follower.of("orders", Order.Confirmed)} & orders
        failed = {e.originator_id for e in follower.of("orders", BAD_ENDS)} & orders
        committed = len(follower.of("inventory", StockItem.ReservationCommitted))
        fulfilments = len(follower.of("orders", Fulfilment.Opened))
        state = Settled(
            len(confirmed) + len(failed) >= len(orders)
            and committed >= lines
            and fulfilments >= sellers,
            len(confirmed),
            len(failed),
            committed,
            fulfilments,
            datetime.now(UTC),
        )
        if state.done or (failed and len(confirmed) + len(failed) >= len(orders)):
            return state
        if time.monotonic() > deadline:
            return state
        if time.monotonic() - shown > 5:
            shown = time.monotonic()
            log(f"  {len(confirmed)}/{len(orders)} confirmed so far", started)
        time.sleep(0.1)


def verify(
    commands: Commands,
    plan: Plan,
    calls: list[Call],
    settled: Settled,
    charges: list[dict[str, Any]],
) -> list[tuple[str, bool]]:
    """Every order confirmed, units sold = units ordered, one gateway charge per order."""
    checks: list[tuple[str, bool]] = []
    errors = [c for c in calls if c.error]
    first = f" (first: {errors[0].error})" if errors else ""
    checks.append((f"check_out calls that raised: {len(errors)}{first}", not errors))
    n = len(plan.carts)
    checks.append(
        (
            f"orders confirmed: {settled.confirmed}/{n}, rejected/failed/expired: {settled.failed}",
            settled.confirmed == n and settled.failed == 0,
        )
    )
    checks.append(units_check(commands, plan))
    checks.append(charges_check(plan, calls, charges))
    expected = sum(plan.sellers_in(s) for s in plan.carts)
    checks.append(
        (
            f"fulfilments opened: {settled.fulfilments} (one per order and seller: {expected})",
            settled.fulfilments == expected,
        )
    )
    carts = [commands.carts.load(cart_id_for(s), Cart) for s in plan.carts]
    full = sum(1 for cart in carts if cart.lines)
    checks.append((f"carts still holding lines: {full}", full == 0))
    return checks


def units_check(commands: Commands, plan: Plan) -> tuple[str, bool]:
    """Units sold = units ordered, and nothing left reserved, for every product ordered."""
    ordered = plan.ordered_units()
    wrong = []
    for product, units in ordered.items():
        item = commands.inventory.load(stock_item_id(product), StockItem)
        if item.sold != units or item.reserved:
            wrong.append((product, units, item.sold, item.reserved))
    return (
        f"units sold = units ordered ({sum(ordered.values())} units, {len(ordered)} products; "
        f"wrong: {len(wrong)}{' e.g. ' + str(wrong[0]) if wrong else ''})",
        not wrong,
    )


def charges_check(plan: Plan, calls: list[Call], charges: list[dict[str, Any]]) -> tuple[str, bool]:
    """One gateway charge per order, of the cart's total, and none for anything else."""
    orders = {c.order_id: c.shopper for c in calls if c.order_id}
    by_reference = Counter(str(charge["reference"]) for charge in charges)
    missing = [o for o in orders if by_reference[str(o)] == 0]
    doubled = [o for o in orders if by_reference[str(o)] > 1]
    strangers = set(by_reference) - {str(o) for o in orders}
    amounts = {str(charge["reference"]): int(charge["amount_minor"]) for charge in charges}
    wrong_amount = [
        o for o, s in orders.items() if amounts.get(str(o)) not in (None, plan.total_of(s))
    ]
    return (
        f"gateway charges: {len(charges)} for {len(orders)} orders; without one "
        f"{len(missing)}, with more than one {len(doubled)}, for no order {len(strangers)}, "
        f"wrong amount {len(wrong_amount)}",
        not (missing or doubled or strangers or wrong_amount) and len(charges) == len(orders),
    )
