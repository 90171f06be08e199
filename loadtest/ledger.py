"""The flash sale as the event store records it: the authority on what was sold.

After the load, the orders the run placed are followed in the event store until each is
settled (confirmed, rejected, failed or expired) and no flash-sale unit is still held, or
until the settle timeout. Then each flash-sale stock item is read back, and compared with
the confirmed orders' lines and with the product-detail view once it has caught up.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import httpx

from commands.services import Commands
from domain.inventory import StockItem
from domain.order import Order
from domain.order_lines import EXPIRABLE, OrderStatus
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from loadtest.journal import PlacedOrder

SOLD = frozenset(
    {
        OrderStatus.CONFIRMED,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    }
)
POLL_SECONDS = 0.5
READ_MODEL_TRIES = 10


@dataclass(frozen=True)
class FlashProductLedger:
    """One flash-sale product: its stock item, its orders and its product-detail view."""

    product_id: str
    stock: int
    sold: int
    held: int
    left: int
    purchase_limit: int | None
    most_by_one_buyer: int
    orders: dict[str, int]
    """Orders holding this product, by status."""
    confirmed_units: int
    """Units of this product in orders the event store shows as confirmed (or shipped)."""
    view_units: int | None
    """units_available in the product-detail view once it reached the log; None: not read."""

    @property
    def oversold(self) -> int:
        """Units sold or held beyond the stock: must be 0."""
        return max(self.sold + self.held - self.stock, 0)


@dataclass(frozen=True)
class Ledger:
    """The flash-sale products and every order of the run, as the event store has them."""

    products: list[FlashProductLedger]
    order_statuses: dict[str, int]
    settled: bool
    settle_seconds: float


def open_commands(settings: Settings, postgres_url: str) -> Commands:
    """The command side on the stack's event store (the settings `marketplace status` uses)."""
    env = eventsourcing_env(settings, postgres_url)
    return Commands(env, split_logs=settings.events.split_logs)


def settle(
    commands: Commands, orders: Sequence[PlacedOrder], flash: Sequence[str], timeout: float
) -> tuple[dict[str, Order], bool]:
    """Each order's current state, after waiting for them to settle; whether they did."""
    deadline = time.monotonic() + timeout
    current: dict[str, Order] = {}
    pending = [order.order_id for order in orders]
    while True:
        for order_id in pending:
            current[order_id] = commands.orders.order(UUID(order_id))
        pending = [i for i, order in current.items() if order.status in EXPIRABLE]
        held = sum(commands.inventory.stock_of(UUID(p)).reserved for p in flash)
        if not pending and held == 0:
            return current, True
        if time.monotonic() > deadline:
            return current, False
        time.sleep(POLL_SECONDS)


def view_units(read_url: str, write_url: str, product_id: str) -> int | None:
    """The product-detail view's units_available once it reached the log heads; None if not."""
    with (
        httpx.Client(base_url=write_url, timeout=10.0) as write,
        httpx.Client(base_url=read_url, timeout=10.0) as read,
    ):
        heads: dict[str, int] = write.get("/health/ready").json().get("positions", {})
        wanted = ",".join(f"{log}:{n}" for log, n in sorted(heads.items()) if log in LOGS)
        for _ in range(READ_MODEL_TRIES):
            answer = read.get(f"/v1/products/{product_id}", headers={"X-Min-Position": wanted})
            if answer.status_code == 200 and answer.headers.get("x-consistency") == "fresh":
                return int(answer.json()["units_available"])
            time.sleep(1.0)
    return None


LOGS = ("catalog", "inventory", "marketplace")
"""Logs the product-detail view may follow: split per context, or the single shared log."""


def product_ledger(
    item: StockItem, product_id: str, orders: dict[str, Order], units: int | None
) -> FlashProductLedger:
    """One flash-sale product's row."""
    statuses: Counter[str] = Counter()
    confirmed = 0
    for order in orders.values():
        quantity = sum(line.quantity for line in order.lines if str(line.product_id) == product_id)
        if quantity:
            statuses[str(order.status)] += 1
            confirmed += quantity if order.status in SOLD else 0
    return FlashProductLedger(
        product_id=product_id,
        stock=item.received,
        sold=item.sold,
        held=item.reserved,
        left=item.available,
        purchase_limit=item.purchase_limit,
        most_by_one_buyer=max(item.bought.values(), default=0),
        orders=dict(statuses),
        confirmed_units=confirmed,
        view_units=units,
    )


def read_ledger(
    settings: Settings,
    postgres_url: str,
    orders: Sequence[PlacedOrder],
    flash: Sequence[str],
    *,
    timeout: float,
    read_url: str,
    write_url: str,
) -> Ledger:
    """Wait for the run's orders to settle, then read the flash sale back."""
    started = time.monotonic()
    commands = open_commands(settings, postgres_url)
    try:
        current, settled = settle(commands, orders, flash, timeout)
        waited = time.monotonic() - started
        rows = []
        for product_id in flash:
            item = commands.inventory.stock_of(UUID(product_id))
            units = view_units(read_url, write_url, product_id)
            rows.append(product_ledger(item, product_id, current, units))
    finally:
        commands.close()
    statuses = Counter(str(order.status) for order in current.values())
    return Ledger(rows, dict(statuses), settled, waited)
