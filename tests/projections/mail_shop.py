"""Shoppers, sellers and orders through the real command side, and the mails they should cause."""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from commands.services import Commands
from domain.base import Context, event_id
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from domain.seller import Seller
from workers.notify.mails import MAIL_NAMESPACE

SHIP_TO = {
    "name": "Ada Lovelace",
    "line1": "1 Loop Road",
    "line2": "Flat 2",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
PAY_WITHIN = timedelta(minutes=15)

Line = tuple[uuid.UUID, str, int, int]
"""(seller, title, unit price in minor units, quantity)."""


@dataclass(frozen=True)
class ExpectedMail:
    """A mail the shop's actions should cause."""

    message_id: uuid.UUID
    order_id: uuid.UUID
    kind: str
    recipient_id: uuid.UUID
    to_address: str
    subject: str


def admin(at: datetime | None = None) -> Context:
    return Context(at or datetime.now(UTC), str(uuid.UUID(int=0)), "admin", "req", "corr", "c")


def expected_id(order_id: uuid.UUID, version: int, kind: str, recipient: uuid.UUID) -> uuid.UUID:
    """The message id the contract names: a uuid5 of the causing event and the recipient."""
    return uuid.uuid5(MAIL_NAMESPACE, f"{event_id(order_id, version)}/{kind}/{recipient}")


@dataclass
class MailShop:
    """Drives the command side and records the mails each step should cause."""

    commands: Commands
    emails: dict[uuid.UUID, str] = field(default_factory=dict)
    expected: list[ExpectedMail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def customer(self, name: str) -> uuid.UUID:
        customer = uuid.uuid4()
        email = f"{name.lower()}-{customer.hex[:6]}@shop.test"
        self.commands.customers.register_customer(customer, name, email, admin())
        self.emails[customer] = email
        return customer

    def seller(self, name: str, *, address: dict[str, str] | None = None) -> uuid.UUID:
        seller = uuid.uuid4()
        email = f"{name.lower()}-{seller.hex[:6]}@sellers.test"
        self.commands.catalog.register_seller(seller, name, email, admin())
        if address is not None:
            ctx = admin()
            self.commands.catalog.change(seller, Seller, lambda s: s.set_address(address, ctx))
        self.emails[seller] = email
        return seller

    def rename_seller(self, seller: uuid.UUID, name: str, email: str) -> None:
        self.commands.catalog.update_seller_profile(seller, name, email, admin(), None)
        self.emails[seller] = email

    def place(self, customer: uuid.UUID, lines: list[Line]) -> Order:
        key = uuid.uuid4().hex
        ctx = admin()
        order_lines = [
            OrderLine(uuid.uuid4(), seller, title, Money(price, "EUR"), quantity)
            for seller, title, price, quantity in lines
        ]
        order = Order.place(
            order_id_for(customer, key),
            customer,
            order_lines,
            ctx.at + PAY_WITHIN,
            key,
            SHIP_TO,
            ctx,
        )
        self.commands.orders.place(order)
        return order

    def confirm(self, order: Order) -> None:
        orders = self.commands.orders
        orders.reserve_stock(order.id, admin())
        orders.authorise_payment(order.id, f"pay-{order.id}", order.total, admin())
        version = orders.confirm(order.id, admin()).version
        ref = str(order.id)[:8].upper()
        self._expect(order, version, "customer", order.customer_id, f"Order {ref} is confirmed")
        for seller in order.lines_by_seller:
            self._expect(order, version, "seller", seller, f"New order {ref}")

    def ship(self, order: Order, seller: uuid.UUID) -> None:
        first = not self.commands.orders.order(order.id).shipped_sellers
        version = self.commands.orders.advance_part(order.id, seller, Order.ship, admin()).version
        version -= 1 if first else 0
        ref = str(order.id)[:8].upper()
        self._expect(order, version, "customer", order.customer_id, f"Order {ref} has shipped")

    def cancel(self, order: Order, reason: str = "changed my mind") -> None:
        version = self.commands.orders.cancel(order.id, reason, admin()).version
        ref = str(order.id)[:8].upper()
        self._expect(order, version, "customer", order.customer_id, f"Order {ref} was cancelled")

    def expire(self, order: Order) -> None:
        version = self.commands.orders.expire(order.id, admin(order.expires_at)).version
        ref = str(order.id)[:8].upper()
        self._expect(order, version, "customer", order.customer_id, f"Order {ref} has expired")

    def reject(self, order: Order) -> None:
        product = order.lines[0].product_id
        self.commands.orders.reject(order.id, [product], admin())

    def fail_payment(self, order: Order) -> None:
        self.commands.orders.reserve_stock(order.id, admin())
        self.commands.orders.fail_payment(order.id, "card declined", admin())

    def random_order(
        self, rng: random.Random, customers: list[uuid.UUID], sellers: list[uuid.UUID]
    ) -> None:
        """One order with a random fate: confirmed and shipped, cancelled, expired or rejected."""
        chosen = rng.sample(sellers, rng.randint(1, min(2, len(sellers))))
        lines = [
            (seller, f"Item {n}", 100 + n, rng.randint(1, 3)) for n, seller in enumerate(chosen)
        ]
        order = self.place(rng.choice(customers), lines)
        fate = rng.random()
        if fate < 0.55:
            self.confirm(order)
            for seller in chosen[: rng.randint(0, len(chosen))]:
                self.ship(order, seller)
        elif fate < 0.75:
            self.confirm(order)
            self.cancel(order)
        elif fate < 0.9:
            self.expire(order)
        else:
            self.reject(order)

    def _expect(
        self, order: Order, version: int, kind: str, recipient: uuid.UUID, subject: str
    ) -> None:
        mail = ExpectedMail(
            expected_id(order.id, version, kind, recipient),
            order.id,
            kind,
            recipient,
            self.emails[recipient],
            subject,
        )
        with self.lock:
            self.expected.append(mail)
