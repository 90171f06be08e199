"""A small golden marketplace for the analytics tests: two products, four orders, a
cancellation, a refund, two currencies, over two UTC days; every event at a known time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.order import Order
from tests.projections.orders_fixture import SHIP_TO, OrderDesk

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
CUT = T0 + timedelta(hours=4)
"""Between the morning's orders and the afternoon's shipment and refund."""
SELLER_EMAIL = "lumo-seller@shop.test"


@dataclass(frozen=True)
class Shop:
    """Who and what the scenario made."""

    seller: uuid.UUID
    lamp: uuid.UUID
    mug: uuid.UUID
    customers: tuple[uuid.UUID, uuid.UUID]
    refunded: uuid.UUID
    """Order A, shipped and refunded in the afternoon."""


def as_of(actor: uuid.UUID, role: str, at: datetime) -> Context:
    return Context(at, str(actor), role, "req", "corr", "cause")


def morning(commands: Commands) -> Shop:
    """The catalog and the orders up to CUT: A confirmed, B cancelled, C in USD."""
    seller, lamp, mug = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()
    opening = as_of(seller, "seller", T0 - timedelta(hours=1))
    catalog = commands.catalog
    catalog.register_seller(seller, "Lumo", SELLER_EMAIL, opening)
    brand = {"brand": "Lumo"}
    catalog.list_product(lamp, seller, "Lamp", "d", "home", brand, Money(1500, "EUR"), opening)
    catalog.list_product(mug, seller, "Mug", "d", "kitchen", {}, Money(250, "EUR"), opening)
    desk = OrderDesk(commands)
    a = desk.place(first, [(seller, lamp, "Lamp", 1500, 2), (seller, mug, "Mug", 250, 1)], T0)
    desk.confirm(a, T0)
    b = desk.place(second, [(seller, lamp, "Lamp", 1500, 1)], T0 + timedelta(hours=1))
    desk.confirm(b, T0 + timedelta(hours=1))
    desk.cancel(b, at=T0 + timedelta(hours=2))
    c = desk.place(first, [(seller, mug, "Mug", 300, 3)], T0 + timedelta(hours=3), "USD")
    desk.confirm(c, T0 + timedelta(hours=3))
    return Shop(seller, lamp, mug, (first, second), a)


def afternoon(commands: Commands, shop: Shop) -> None:
    """After CUT: A shipped and refunded 10.00, and a lamp sold the next day."""
    desk = OrderDesk(commands)
    a, second = shop.refunded, shop.customers[1]
    desk.ship(a, shop.seller, T0 + timedelta(hours=5))
    refund_at = as_of(uuid.UUID(int=0), "admin", T0 + timedelta(hours=6))
    commands.orders.change(a, Order, lambda o: o.refund("r1", Money(1000, "EUR"), refund_at))
    d = desk.place(second, [(shop.seller, shop.lamp, "Lamp", 1500, 1)], T0 + timedelta(days=1))
    desk.confirm(d, T0 + timedelta(days=1))


PERSONAL = (SHIP_TO["name"], SHIP_TO["line1"], SELLER_EMAIL)
