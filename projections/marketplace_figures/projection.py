"""Catalog, cart and order events to marketplace-wide figures for analysts.

GMV is kept as seller sales keeps it (a confirmation adds, a cancellation or refund
subtracts, each order counted once by its version), but per quarter hour rather than per
hour: every time zone in use today is a whole number of quarter hours from UTC (Asia/Kolkata
+05:30, Asia/Kathmandu +05:45), so a quarter hour lies in one local hour and one local day of
any zone and the reads bucket it exactly. The cart funnel counts carts created, items added,
orders placed (checked out) and confirmed per quarter hour, and keeps each cart's lines and
last change so that the reads can count the carts abandoned with items in them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar, Protocol
from uuid import UUID

from domain.cart import Cart
from domain.order import Order
from domain.product import Product
from projections.handlers import handles
from projections.seller_sales.projection import SalesCounting, SellerSalesUnit

STAGES = ("carts_created", "items_added", "checked_out", "confirmed", "abandoned")
"""The funnel's stages, in order; the last is read from the carts, not counted."""


def quarter_of(at: datetime) -> datetime:
    """The start of the UTC quarter hour that holds at."""
    moment = at.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


class MarketplaceFiguresUnit(SellerSalesUnit, Protocol):
    """The writes of one batch: seller sales per quarter hour, categories and the funnel.

    count_sale takes the quarter hour of the confirmation rather than its hour.
    """

    def categorise(self, product_id: UUID, category: str) -> None:
        """The product's category from now on (GMV is read by the category products have)."""

    def count_stage(self, stage: str, quarter: datetime) -> None:
        """One more of a funnel stage in the quarter hour."""

    def change_cart(
        self, cart_id: UUID, at: datetime, product_id: UUID | None, quantity: int, add: bool
    ) -> None:
        """The cart changed at: a line's quantity added to (add) or set (0 removes it); no
        product empties the cart (a new cart is an empty one)."""


class MarketplaceFiguresProjection(SalesCounting[MarketplaceFiguresUnit]):
    """GMV per quarter hour, seller, product and currency; categories; the cart funnel."""

    name = "marketplace-figures"
    contexts: ClassVar[tuple[str, ...]] = ("catalog", "carts", "orders")

    def period_of(self, at: datetime) -> datetime:
        """Sales count per quarter hour."""
        return quarter_of(at)

    @handles(Product.Listed, Product.DetailsUpdated)
    def categorise(
        self, event: Product.Listed | Product.DetailsUpdated, unit: MarketplaceFiguresUnit
    ) -> None:
        """Note the product's category."""
        unit.categorise(event.originator_id, event.category)

    @handles(Cart.Created)
    def open_cart(self, event: Cart.Created, unit: MarketplaceFiguresUnit) -> None:
        """A new, empty cart."""
        unit.change_cart(event.originator_id, event.timestamp, None, 0, add=False)
        unit.count_stage("carts_created", quarter_of(event.timestamp))

    @handles(Cart.ItemAdded)
    def add_item(self, event: Cart.ItemAdded, unit: MarketplaceFiguresUnit) -> None:
        """Units of a product into a cart."""
        at = event.timestamp
        unit.change_cart(event.originator_id, at, event.product_id, event.quantity, add=True)
        unit.count_stage("items_added", quarter_of(at))

    @handles(Cart.QuantityChanged)
    def change_quantity(self, event: Cart.QuantityChanged, unit: MarketplaceFiguresUnit) -> None:
        """A cart line's new quantity."""
        at = event.timestamp
        unit.change_cart(event.originator_id, at, event.product_id, event.quantity, add=False)

    @handles(Cart.ItemRemoved)
    def remove_item(self, event: Cart.ItemRemoved, unit: MarketplaceFiguresUnit) -> None:
        """A line out of a cart."""
        unit.change_cart(event.originator_id, event.timestamp, event.product_id, 0, add=False)

    @handles(Cart.Cleared)
    def clear(self, event: Cart.Cleared, unit: MarketplaceFiguresUnit) -> None:
        """A cart emptied (a checkout clears it)."""
        unit.change_cart(event.originator_id, event.timestamp, None, 0, add=False)

    @handles(Order.Placed)
    def remember_order(self, event: Order.Placed, unit: MarketplaceFiguresUnit) -> None:
        """A checkout placed an order: keep its lines until it is confirmed or ends."""
        super().remember_order(event, unit)
        unit.count_stage("checked_out", quarter_of(event.timestamp))

    @handles(Order.Confirmed)
    def count_sale(self, event: Order.Confirmed, unit: MarketplaceFiguresUnit) -> None:
        """Add a confirmed order to its sellers' sales in the quarter hour of confirmation."""
        super().count_sale(event, unit)
        unit.count_stage("confirmed", quarter_of(event.timestamp))
