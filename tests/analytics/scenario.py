"""A small golden marketplace for the analytics tests: two products, four orders, a
cancellation, a refund, two currencies, over two UTC days, then a flash sale of a third
product that sells out in two minutes; every event at a known time."""

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


FLASH = T0 + timedelta(days=1, hours=2)
"""The flash sale opens: three kettles, one per buyer, sold out at FLASH + 2 minutes."""


def flash_sale(commands: Commands, shop: Shop) -> uuid.UUID:
    """The seller lists a kettle (kitchen, 40.00 EUR), receives 3, caps buyers at 1; three
    buyers each order one, a minute apart, each held and sold as it is confirmed; the kettle."""
    kettle, seller = uuid.uuid4(), shop.seller
    opening = as_of(seller, "seller", FLASH - timedelta(hours=1))
    commands.catalog.list_product(
        kettle, seller, "Kettle", "d", "kitchen", {}, Money(4000, "EUR"), opening
    )
    commands.receive_stock(kettle, 3, opening)
    commands.inventory.set_purchase_limit(kettle, 1, opening)
    desk = OrderDesk(commands)
    for minute in range(3):
        at, buyer = FLASH + timedelta(minutes=minute), uuid.uuid4()
        order = desk.place(buyer, [(seller, kettle, "Kettle", 4000, 1)], at)
        system = as_of(uuid.UUID(int=0), "admin", at)
        commands.inventory.reserve(kettle, order, 1, at + timedelta(minutes=15), system, buyer)
        desk.confirm(order, at)
        commands.inventory.commit(kettle, order, system)
    return kettle


def golden(commands: Commands) -> Shop:
    """The whole scenario: morning, afternoon and the next day's flash sale."""
    shop = morning(commands)
    afternoon(commands, shop)
    flash_sale(commands, shop)
    return shop


DAY1, DAY2 = str(T0.date()), str((T0 + timedelta(days=1)).date())
GOLDEN_GMV = {
    (DAY1, "home", "EUR"): 3000 - 923,
    (DAY1, "kitchen", "EUR"): 250 - 77,
    (DAY1, "kitchen", "USD"): 900,
    (DAY2, "home", "EUR"): 1500,
    (DAY2, "kitchen", "EUR"): 3 * 4000,
}
"""Net GMV per UTC day, category and currency: A (a 10.00 refund split 3000:250 over its
lines), B cancelled, C in USD, D, and the flash sale's three kettles."""

PERSONAL = (SHIP_TO["name"], SHIP_TO["line1"], SELLER_EMAIL)
