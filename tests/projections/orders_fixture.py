"""Orders driven through the real command side, for the order-history and seller-sales tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from commands.base import Outcome
from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine

START = datetime(2025, 3, 1, 9, 15, tzinfo=UTC)
PAY_WITHIN = timedelta(minutes=15)
SHIP_TO = {
    "name": "Ada Lovelace",
    "line1": "1 Loop Road",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
SHIP_FROM = {**SHIP_TO, "name": "Warehouse", "city": "Paris", "postal_code": "75001"}

Line = tuple[uuid.UUID, uuid.UUID, str, int, int]
"""(seller, product, title, unit price in minor units, quantity)."""


@dataclass
class OrderDesk:
    """Places orders and moves them through their life with the orders application."""

    commands: Commands
    at: datetime = START

    def ctx(self, actor: uuid.UUID, role: str, at: datetime | None = None) -> Context:
        return Context(at or self.at, str(actor), role, "req", "corr", "cause")

    def place(
        self,
        customer: uuid.UUID,
        lines: list[Line],
        at: datetime | None = None,
        currency: str = "EUR",
    ) -> uuid.UUID:
        """Place an order of these lines for customer; its id."""
        key = uuid.uuid4().hex
        order_id = order_id_for(customer, key)
        ctx = self.ctx(customer, "shopper", at)
        order_lines = [
            OrderLine(product, seller, title, Money(price, currency), quantity)
            for seller, product, title, price, quantity in lines
        ]
        order = Order.place(order_id, customer, order_lines, ctx.at + PAY_WITHIN, key, SHIP_TO, ctx)
        self.commands.orders.place(order)
        return order_id

    def order(self, order_id: uuid.UUID) -> Order:
        return self.commands.orders.order(order_id)

    def reserve(self, order_id: uuid.UUID, at: datetime | None = None) -> Outcome:
        return self.commands.orders.reserve_stock(order_id, self._system(at))

    def authorise(self, order_id: uuid.UUID, at: datetime | None = None) -> Outcome:
        total = self.order(order_id).total
        return self.commands.orders.authorise_payment(
            order_id, f"pay-{order_id}", total, self._system(at)
        )

    def confirm(self, order_id: uuid.UUID, at: datetime | None = None) -> Outcome:
        """Reserve, authorise and confirm."""
        self.reserve(order_id, at)
        self.authorise(order_id, at)
        return self.commands.orders.confirm(order_id, self._system(at))

    def reject(self, order_id: uuid.UUID, product: uuid.UUID) -> Outcome:
        return self.commands.orders.reject(order_id, [product], self._system())

    def fail_payment(self, order_id: uuid.UUID) -> Outcome:
        return self.commands.orders.fail_payment(order_id, "card declined", self._system())

    def ship(self, order_id: uuid.UUID, seller: uuid.UUID, at: datetime | None = None) -> Outcome:
        return self.commands.orders.advance_part(
            order_id, seller, Order.ship, self.ctx(seller, "seller", at)
        )

    def deliver(self, order_id: uuid.UUID, seller: uuid.UUID) -> Outcome:
        ctx = self._system()
        return self.commands.orders.change(order_id, Order, lambda o: o.deliver(seller, ctx))

    def refund(self, order_id: uuid.UUID, amount_minor: int) -> Outcome:
        ctx = self._system()
        money = Money(amount_minor, self.order(order_id).currency)
        return self.commands.orders.change(
            order_id, Order, lambda o: o.refund(f"refund-{amount_minor}", money, ctx)
        )

    def cancel(
        self, order_id: uuid.UUID, reason: str = "changed my mind", at: datetime | None = None
    ) -> Outcome:
        customer = self.order(order_id).customer_id
        return self.commands.orders.cancel(order_id, reason, self.ctx(customer, "shopper", at))

    def void(self, order_id: uuid.UUID) -> Outcome:
        return self.commands.orders.void_payment(order_id, self._system())

    def expire(self, order_id: uuid.UUID) -> Outcome:
        deadline = self.order(order_id).expires_at
        return self.commands.orders.expire(order_id, self._system(deadline))

    def label(
        self,
        order_id: uuid.UUID,
        seller: uuid.UUID,
        key: str,
        content_type: str = "application/pdf",
    ) -> Outcome:
        """Open the seller's fulfilment of the order and attach a label stored under key."""
        ctx = self._system()
        self.commands.orders.open_fulfilment(self.order(order_id), seller, SHIP_FROM, ctx)
        return self.commands.orders.attach_label(order_id, seller, key, content_type, ctx)

    def _system(self, at: datetime | None = None) -> Context:
        return self.ctx(uuid.UUID(int=0), "admin", at)


def fresh_schema(server_url: str) -> str:
    """A new, empty schema on the server (dropped with drop_schema)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(server_url: str, schema: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def dump(url: str, *tables: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each table, in a stable order."""
    with psycopg.connect(url) as conn:
        return {
            table: sorted(
                conn.execute(f"SELECT * FROM {table}").fetchall(),  # noqa: S608
                key=repr,
            )
            for table in tables
        }
