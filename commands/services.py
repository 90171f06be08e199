"""The command side as one object: every context's application and the cross-context rules."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

import structlog

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from commands.carts import CartsApplication
from commands.catalog import CatalogApplication
from commands.customers import CustomersApplication, Shredder
from commands.errors import SoldOut, StaleVersion
from commands.inventory import InventoryApplication
from commands.orders import OrdersApplication
from commands.stream_batch import BatchedWritePath
from commands.write_path import WritePathFactory
from domain.base import Context
from domain.cart import Cart, cart_id_for
from domain.customer import Customer
from domain.errors import NotFound, RuleViolated
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine, OrderStatus
from domain.product import Product

SINGLE_LOG = "marketplace"
log = structlog.get_logger()


class Availability(Protocol):
    """Projected stock, read without the event store: it may refuse early, never grant."""

    def claim(self, order_id: UUID, lines: Mapping[UUID, int]) -> set[UUID]:
        """Claim the lines' units for the order, or claim none and return the products
        without enough unclaimed units left; an order claimed already is admitted again."""
        ...

    def release(self, order_id: UUID, product_ids: Collection[UUID]) -> None:
        """Drop the order's claims (its checkout placed nothing)."""
        ...


class CustomerOrders(Protocol):
    """Which orders each customer placed, noted by checkout before it appends the order."""

    def add(self, customer_id: UUID, order_id: UUID) -> None:
        """Note the customer's order; noting it again changes nothing."""
        ...

    def orders_of(self, customer_id: UUID) -> list[UUID]:
        """Every order noted for the customer."""
        ...


class UnshippedOrders(RuleViolated):
    """The customer still has orders on their way: their address is still needed."""


SETTLED = frozenset(
    {
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.REJECTED,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    }
)
"""Order states in which nothing more is shipped: the shopper's address is no longer needed."""


class Commands:
    """Holds one application per bounded context.

    With split_logs each context appends to its own log; otherwise all share one log
    named "marketplace" (kept for comparison and for small installations). Every
    application appends through the write path the composition root gives.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        split_logs: bool = True,
        availability: Availability | None = None,
        write_path: WritePathFactory = BatchedWritePath,
        customer_orders: CustomerOrders | None = None,
    ) -> None:
        self.availability = availability
        self.customer_orders = customer_orders
        log = None if split_logs else SINGLE_LOG
        self.catalog = CatalogApplication(env, log, write_path=write_path)
        shared = None if split_logs else self.catalog.recorder
        self.inventory = InventoryApplication(env, log, shared, write_path)
        self.carts = CartsApplication(env, log, shared, write_path)
        self.customers = CustomersApplication(env, log, shared, write_path)
        self.orders = OrdersApplication(env, log, shared, write_path)

    @property
    def applications(self) -> tuple[ContextApplication, ...]:
        """Every context's application."""
        return (self.catalog, self.inventory, self.carts, self.customers, self.orders)

    def receive_stock(self, product_id: UUID, quantity: int, ctx: Context) -> Outcome:
        """Receive units for a product the actor sells, unless its seller is suspended."""
        product = self.catalog.product_owned_by_actor(product_id, ctx)
        self.catalog.active_seller(product.seller_id)
        return self.inventory.receive_stock(product_id, product.seller_id, quantity, ctx)

    def add_to_cart(
        self,
        cart_id: UUID,
        product_id: UUID,
        quantity: int,
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Add a product that is on sale to a cart whose other lines share its currency."""
        currency = self.catalog.listed_product(product_id).price.currency
        return self.carts.add_item(cart_id, product_id, quantity, currency, ctx, expected_version)

    def check_out(
        self,
        shopper_id: UUID,
        address_id: UUID,
        idempotency_key: str,
        expires_at: datetime,
        ctx: Context,
        cart_version: int | None = None,
    ) -> Outcome:
        """Place an order from the shopper's cart at today's prices, then empty the cart.

        The order id derives from the shopper and the idempotency key, so a repeated
        checkout finds the order it already placed instead of placing a second one; it
        empties the cart only if the cart still holds just what was ordered. With
        cart_version, a first checkout is refused (StaleVersion) unless the cart is still
        at that version: the order holds the cart the shopper saw.
        """
        require_owner(ctx, shopper_id)
        order_id = order_id_for(shopper_id, idempotency_key)
        cart = self.carts.load(cart_id_for(shopper_id), Cart)
        try:
            placed = self.orders.order(order_id)
        except NotFound:
            try:
                if cart_version is not None and cart.version != cart_version:
                    raise StaleVersion(cart_version, cart.version)
                order = self._order_from(
                    cart, order_id, address_id, idempotency_key, expires_at, ctx
                )
                if self.customer_orders is not None:
                    self.customer_orders.add(shopper_id, order_id)
                outcome, _ = self.orders.place(order)
            except Exception:
                self._release(order_id, cart.lines)
                raise
            placed = order
        else:
            outcome = Outcome(placed.id, placed.version, self.orders.log_name, None)
        ordered = {line.product_id: line.quantity for line in placed.lines}
        if cart.lines and cart.lines == ordered:
            self.carts.clear(cart.id, ctx)
        return outcome

    def erase_customer(self, customer_id: UUID, ctx: Context) -> Outcome:
        """Erase the customer's personal data, unless an order of theirs is still unshipped.

        Which orders are theirs comes from the orders noted at checkout; each one's state from
        the event store. Without a note of orders, erasure is refused rather than guessed.
        """
        require_owner(ctx, customer_id)
        if self.customer_orders is None:
            raise RuleViolated("this command API keeps no note of orders: erasure is refused")
        open_orders = [
            order.id
            for order in self._orders(self.customer_orders.orders_of(customer_id))
            if order.status not in SETTLED
        ]
        if open_orders:
            listed = ", ".join(map(str, open_orders))
            raise UnshippedOrders(f"orders not yet shipped or closed: {listed}")
        outcome = self.customers.erase(customer_id, ctx)
        for application in self.applications:
            if isinstance(application.mapper, Shredder):
                application.mapper.forget(str(customer_id))
        return outcome

    def _orders(self, order_ids: Collection[UUID]) -> list[Order]:
        """The orders of these ids that exist (a noted order's append may have failed)."""
        found = []
        for order_id in order_ids:
            try:
                found.append(self.orders.order(order_id))
            except NotFound:
                continue
        return found

    def refuse_if_sold_out(self, shopper_id: UUID, idempotency_key: str) -> None:
        """Claim the cart's units for the checkout's order, or refuse it changing nothing.

        For the command API to call before it records the idempotency key: a refusal has no
        effect to replay, and a key whose order exists is left to check_out, which finds it.
        The order is looked for only when the cart would be refused, so a checkout that goes
        on pays one event-store read here, not two.
        """
        if self.availability is None:
            return
        cart = self.carts.load(cart_id_for(shopper_id), Cart)
        order_id = order_id_for(shopper_id, idempotency_key)
        try:
            self._refuse_sold_out(order_id, cart.lines)
        except SoldOut:
            if not self._orders([order_id]):
                raise

    def _order_from(
        self,
        cart: Cart,
        order_id: UUID,
        address_id: UUID,
        idempotency_key: str,
        expires_at: datetime,
        ctx: Context,
    ) -> Order:
        if not cart.lines:
            raise RuleViolated("the cart is empty")
        self._refuse_sold_out(order_id, cart.lines)
        customer = self.customers.load(cart.shopper_id, Customer)
        if customer.erased:
            raise RuleViolated("the customer's personal data is erased")
        address = customer.addresses.get(address_id)
        if address is None:
            raise NotFound(f"address {address_id} does not exist")
        lines = [self._order_line(product_id, n) for product_id, n in cart.lines.items()]
        ship_to = {"name": customer.name, **address}
        return Order.place(
            order_id, cart.shopper_id, lines, expires_at, idempotency_key, ship_to, ctx
        )

    def _refuse_sold_out(self, order_id: UUID, lines: Mapping[UUID, int]) -> None:
        """Claim the lines for the order, or refuse at once if the projected stock, less what
        other checkouts claimed, cannot cover them (a flash sale's tail).

        Only a refusal comes from the projection; a unit is granted by the reservation in
        the event store alone. If the projection cannot be read, checkout goes on.
        """
        if self.availability is None:
            return
        try:
            gone = self.availability.claim(order_id, lines)
        except Exception:
            log.warning("availability_unreadable", exc_info=True)
            return
        if gone:
            raise SoldOut.of(gone)

    def _release(self, order_id: UUID, product_ids: Collection[UUID]) -> None:
        """Drop the claims of a checkout that placed nothing (they would lapse in time)."""
        if self.availability is None:
            return
        try:
            self.availability.release(order_id, product_ids)
        except Exception:
            log.warning("claims_not_released", exc_info=True)

    def _order_line(self, product_id: UUID, quantity: int) -> OrderLine:
        """The cart line at the product's current price, checked against the store."""
        product = self.catalog.load(product_id, Product)
        if product.delisted:
            raise RuleViolated(f"product {product_id} is no longer on sale")
        self.catalog.active_seller(product.seller_id)
        return OrderLine(product.id, product.seller_id, product.title, product.price, quantity)

    def close(self) -> None:
        """Release every application's connections."""
        for app in self.applications:
            app.close()
