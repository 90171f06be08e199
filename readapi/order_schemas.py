"""Shapes of the order, seller-order and sales answers, for OpenAPI (bodies built with orjson)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from readapi.schemas import Answer, Price


class OrderLine(Answer):
    """A line frozen at checkout."""

    product_id: UUID
    seller_id: UUID
    title: str
    quantity: int
    unit_price: Price
    subtotal: Price


class Payment(Answer):
    """Where the payment stands: pending, authorised, failed, captured, voided, refunded or
    partially_refunded, and the amounts so far."""

    state: str
    failure_reason: str | None
    authorised: Price
    captured: Price
    refunded: Price


class SellerPart(Answer):
    """One seller's part of an order: shipped and delivered yet?"""

    seller_id: UUID
    shipped: bool
    delivered: bool


class Order(Answer):
    """A shopper's order.

    `status` is one of placed, payment_pending, rejected, payment_authorised, payment_failed,
    confirmed, partially_shipped, shipped, delivered, cancelled, expired.
    """

    id: UUID
    status: str
    version: int
    total: Price
    lines: list[OrderLine]
    ship_to: dict[str, str]
    sellers: list[SellerPart]
    payment: Payment
    placed_at: str
    updated_at: str
    expires_at: str
    confirmed_at: str | None
    cancellation_reason: str | None
    rejected_product_ids: list[UUID]


class OrderPage(Answer):
    """Orders newest first; pass `next_cursor` as `cursor` for the next page (null: no more)."""

    orders: list[Order]
    next_cursor: str | None


class SellerOrderLine(Answer):
    """A line of the seller's part of an order."""

    product_id: UUID
    title: str
    quantity: int
    unit_price: Price
    subtotal: Price


class SellerOrder(Answer):
    """A seller's part of an order: its lines, the order's status, shipment and label."""

    order_id: UUID
    status: str
    placed_at: str
    updated_at: str
    shipped_at: str | None
    delivered_at: str | None
    label_content_type: str | None
    lines: list[SellerOrderLine]
    subtotal: Price


class SellerOrderPage(Answer):
    """A seller's orders newest first; pass `next_cursor` as `cursor` for the next page."""

    orders: list[SellerOrder]
    next_cursor: str | None


class SalesBucket(Answer):
    """A product's net sales in one currency, in the UTC hour starting at `hour`."""

    hour: str
    product_id: UUID
    units: int
    revenue: Price
    orders: int


class ProductSales(Answer):
    """A product's net sales in one currency over the whole range."""

    product_id: UUID
    units: int
    revenue: Price
    orders: int


class SalesTotal(Answer):
    """Every product's net sales in one currency over the whole range."""

    units: int
    revenue: Price


class SellerSales(Answer):
    """Hourly sales per product of a seller's confirmed orders, net of cancellations and refunds."""

    seller_id: UUID
    from_: str = Field(alias="from")
    to: str
    buckets: list[SalesBucket]
    products: list[ProductSales]
    totals: list[SalesTotal]
