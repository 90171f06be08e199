"""The rebuild benchmark's workload, appended straight through the applications.

A catalogue (sellers, products, stock items) with rounds of stock moves and price changes,
carts with rounds of line changes, and orders taken from placed to shipped or cancelled.
Aggregates change in memory and are saved many per append, round after round, so each
aggregate's events are spread over its log as live traffic spreads them. Seeded: the same
arguments give the same events (ids aside).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.application import Application

from commands.services import Commands
from domain.base import Context
from domain.cart import Cart
from domain.errors import DomainError
from domain.inventory import StockItem
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from domain.product import Product
from domain.seller import Seller
from infra.eventstore import eventsourcing_env
from infra.settings import Settings

SAVE_CHUNK = 500
"""Aggregates appended together."""
SHIP_TO = {"name": "A", "line1": "1 Road", "line2": "", "city": "Lyon", "postal_code": "1"}
SHIP_TO |= {"country": "FR"}


def stock_move(item: StockItem, roll: float, ctx: Context) -> None:
    """Receive, reserve, commit, release or adjust, chosen by roll (a refused move is skipped)."""
    held = sorted(item.reservations)
    pick = held[int(roll * 1000) % len(held)] if held else None
    try:
        if roll < 0.25:
            item.receive(int(roll * 40) + 1, ctx)
        elif roll < 0.55:
            item.reserve(uuid.uuid4(), int(roll * 10) % 3 + 1, ctx.at + timedelta(hours=1), ctx)
        elif roll < 0.75 and pick:
            item.commit(pick, ctx)
        elif roll < 0.9 and pick:
            item.release(pick, "gone", ctx)
        else:
            item.adjust(1, "count", ctx)
    except DomainError:
        pass


class Shop:
    """A seeded workload appended straight through the applications, in interleaved rounds.

    Aggregates change in memory and are saved many per append, round after round, so each
    aggregate's events are spread over its log as live traffic spreads them.
    """

    def __init__(self, commands: Commands, seed: int) -> None:
        self.commands = commands
        self.rng = random.Random(seed)
        self.start = datetime(2025, 3, 1, tzinfo=UTC)

    def ctx(self, actor: uuid.UUID, role: str, minutes: int = 0) -> Context:
        """A context at the workload's start plus minutes."""
        at = self.start + timedelta(minutes=minutes)
        return Context(at, str(actor), role, "bench", "bench", "bench")

    @staticmethod
    def save(app: Application[uuid.UUID], aggregates: Sequence[Any]) -> None:
        """Append the aggregates' pending events, SAVE_CHUNK aggregates per append."""
        for n in range(0, len(aggregates), SAVE_CHUNK):
            app.save(*aggregates[n : n + SAVE_CHUNK])

    def catalogue(self, products: int, rounds: int) -> list[OrderLine]:
        """Sellers, products and stock, then rounds of price changes and stock moves."""
        rng, admin = self.rng, uuid.UUID(int=0)
        sellers = [
            Seller.register(uuid.uuid4(), f"Seller {n}", f"s{n}@x.test", self.ctx(admin, "admin"))
            for n in range(max(products // 50, 1))
        ]
        listed, items = [], []
        for n in range(products):
            seller = sellers[n % len(sellers)]
            at = self.ctx(seller.id, "seller")
            price = Money(rng.randint(100, 90_000), "EUR")
            product = Product.list(
                uuid.uuid4(), seller.id, f"Item {n}", "words to find", "home", {}, price, at
            )
            item = StockItem.open(product.id, seller.id, at)
            item.receive(rng.randint(200, 900), at)
            listed.append(product)
            items.append(item)
        self.save(self.commands.catalog, [*sellers, *listed])
        self.save(self.commands.inventory, items)
        for _ in range(rounds):
            repriced = [p for p in listed if rng.random() < 0.1]
            for product in repriced:
                at = self.ctx(product.seller_id, "seller")
                product.change_price(Money(rng.randint(100, 90_000), "EUR"), at)
            for item in items:
                for _ in range(rng.randint(1, 3)):
                    stock_move(item, rng.random(), self.ctx(item.seller_id, "seller"))
            self.save(self.commands.catalog, repriced)
            self.save(self.commands.inventory, items)
        return [OrderLine(p.id, p.seller_id, p.title, p.price, 1) for p in listed]

    def carts(self, carts: int, rounds: int, lines: list[OrderLine]) -> None:
        """Carts, then rounds of lines added, changed and removed, and carts cleared."""
        rng = self.rng
        shoppers = [uuid.uuid4() for _ in range(carts)]
        made = [Cart.create(shopper, self.ctx(shopper, "shopper")) for shopper in shoppers]
        self.save(self.commands.carts, made)
        for _ in range(rounds):
            for cart in made:
                at, roll, held = (
                    self.ctx(cart.shopper_id, "shopper"),
                    rng.random(),
                    sorted(cart.lines),
                )
                if roll < 0.6 or not held:
                    line = rng.choice(lines)
                    quantity = rng.randint(1, 3)
                    cart.add_item(line.product_id, quantity, line.unit_price.currency, at)
                elif roll < 0.8:
                    cart.change_quantity(held[0], rng.randint(4, 9), at)
                elif roll < 0.95:
                    cart.remove_item(held[-1], at)
                else:
                    cart.clear(at)
            self.save(self.commands.carts, made)

    def orders(self, orders: int, lines: list[OrderLine]) -> None:
        """Orders placed over a week, then reserved, authorised, confirmed, a tenth cancelled,
        the rest shipped by their first seller, step by step over all orders."""
        rng, admin = self.rng, uuid.UUID(int=0)
        placed: list[tuple[Order, int]] = []
        for n in range(orders):
            customer, minutes = uuid.uuid4(), rng.randint(0, 60 * 24 * 7)
            at = self.ctx(customer, "shopper", minutes)
            chosen = rng.sample(lines, rng.randint(1, 3))
            order_id = order_id_for(customer, str(n))
            expires = at.at + timedelta(minutes=15)
            order = Order.place(order_id, customer, chosen, expires, str(n), SHIP_TO, at)
            placed.append((order, minutes))
        self.save(self.commands.orders, [order for order, _ in placed])
        steps: list[Callable[[Order, Context], None]] = [
            lambda o, at: o.reserve_stock(at),
            lambda o, at: o.authorise_payment(f"pay-{o.id}", o.total, at),
            lambda o, at: o.confirm(at),
            lambda o, at: (
                o.cancel("changed my mind", at)
                if o.id.int % 10 == 0
                else o.ship(next(iter(o.lines_by_seller)), at)
            ),
        ]
        for n, step in enumerate(steps, start=1):
            for order, minutes in placed:
                step(order, self.ctx(admin, "admin", minutes + n))
            self.save(self.commands.orders, [order for order, _ in placed])


def load(
    settings: Settings, *, products: int, rounds: int, carts: int, orders: int, seed: int
) -> int:
    """Append the workload to the settings' event store; how many events."""
    commands = Commands(eventsourcing_env(settings))
    try:
        shop = Shop(commands, seed)
        lines = shop.catalogue(products, rounds)
        shop.carts(carts, rounds, lines)
        shop.orders(orders, lines)
        return sum(app.recorder.max_notification_id() or 0 for app in commands.applications)
    finally:
        commands.close()
