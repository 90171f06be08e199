"""A small history for the audit tests: one seller's product bought in one checkout, paid,
confirmed and handed to fulfilment, every command in a flow of its own correlation id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from commands.services import Commands
from domain.base import Context, event_id
from domain.cart import cart_id_for
from domain.money import Money
from domain.order import Order

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ADDRESS = {
    "line1": "1 Loop Rd",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}


@dataclass(frozen=True)
class Shop:
    """The ids of what the history made, and its correlation id."""

    seller_id: UUID
    product_id: UUID
    shopper_id: UUID
    order_id: UUID
    correlation_id: str
    payment_id: str


class Clock:
    """Command times one minute apart, from START."""

    def __init__(self) -> None:
        self.at = START

    def context(self, actor: UUID, role: str, correlation_id: str, cause: str) -> Context:
        """The next command's context."""
        self.at += timedelta(minutes=1)
        return Context(self.at, str(actor), role, f"req-{uuid4().hex[:8]}", correlation_id, cause)


def open_shop(commands: Commands) -> Shop:
    """A seller lists a lamp and receives stock; a shopper buys two, and the order is paid,
    confirmed and its fulfilment opened, all under one correlation id."""
    clock, flow = Clock(), f"flow-{uuid4().hex[:12]}"
    seller_id, shopper_id, product_id = uuid4(), uuid4(), uuid4()
    seller = lambda: clock.context(seller_id, "seller", f"setup-{uuid4().hex[:8]}", "request")  # noqa: E731
    commands.catalog.register_seller(seller_id, "Ada", "ada@shop.test", seller())
    commands.catalog.list_product(
        product_id, seller_id, "Walnut Lamp", "Oiled.", "home", {}, Money(4999, "EUR"), seller()
    )
    commands.receive_stock(product_id, 10, seller())
    shopper = clock.context(shopper_id, "shopper", f"setup-{uuid4().hex[:8]}", "request")
    commands.customers.register_customer(shopper_id, "Grace", "grace@home.test", shopper)
    address_id = uuid4()
    commands.customers.add_address(shopper_id, address_id, ADDRESS, shopper, None)
    commands.carts.create_cart(shopper_id, shopper)
    commands.add_to_cart(cart_id_for(shopper_id), product_id, 2, shopper)
    checkout = clock.context(shopper_id, "shopper", flow, "req-checkout")
    placed = commands.check_out(
        shopper_id, address_id, "key-1", START + timedelta(days=1), checkout
    )
    order_id = placed.aggregate_id
    placed_cause = str(event_id(order_id, 0))
    system = lambda cause: clock.context(uuid4(), "system", flow, cause)  # noqa: E731
    expires = START + timedelta(days=1)
    commands.inventory.reserve(product_id, order_id, 2, expires, system(placed_cause))
    commands.orders.reserve_stock(order_id, system(placed_cause))
    payment_id = f"pay-{uuid4().hex[:8]}"
    commands.orders.authorise_payment(
        order_id, payment_id, Money(9998, "EUR"), system(str(event_id(order_id, 1)))
    )
    commands.orders.confirm(order_id, system(str(event_id(order_id, 2))))
    order = commands.orders.load(order_id, Order)
    commands.orders.open_fulfilment(order, seller_id, None, system(str(event_id(order_id, 3))))
    return Shop(seller_id, product_id, shopper_id, order_id, flow, payment_id)
