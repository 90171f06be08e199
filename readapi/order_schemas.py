"""Shapes of the order, seller-order and sales answers, for OpenAPI (bodies built with orjson)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from readapi.schemas import Price


class OrderLine(BaseModel):
    """A line frozen at checkout."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    seller_id: UUID
    title: str
    quantity: int
    unit_price: Price
    subtotal: Price


class Payment(BaseModel):
    """Where the payment stands: pending, authorised, failed, captured, voided, refunded or
    partially_refunded, and the amounts so far."""

    model_config = ConfigDict(extra="forbid")

    state: str
    failure_reason: str | None
    authorised: Price
    captured: Price
    refunded: Price


class SellerPart(BaseModel):
    """One seller's part of an order: shipped and delivered yet?"""

    model_config = ConfigDict(extra="forbid")

    seller_id: UUID
    shipped: bool
    delivered: bool


class Order(BaseModel):
    """A shopper's order.

    `status` is one of placed, payment_pending, rejected, payment_authorised, payment_failed,
    confirmed, partially_shipped, shipped, delivered, cancelled, expired.
    """

    model_config = ConfigDict(extra="forbid")

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


class OrderPage(BaseModel):
    """Orders newest first; pass `next_cursor` as `cursor` for the next page (null: no more)."""

    model_config = ConfigDict(extra="forbid")

    orders: list[Order]
    next_cursor: str | None


class SellerOrderLine(BaseModel):
    """A line of the seller's part of an order."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    title: str
    quantity: int
    unit_price: Price
    subtotal: Price


class SellerOrder(BaseModel):
    """A seller's part of an order: its lines, the order's status, shipment and label."""

    model_config = ConfigDict(extra="forbid")

    order_id: UUID
    status: str
    placed_at: str
    updated_at: str
    shipped_at: str | None
    delivered_at: str | None
    label_content_type: str | None
    lines: list[SellerOrderLine]
    subtotal: Price


class SellerOrderPage(BaseModel):
    """A seller's orders newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = ConfigDict(extra="forbid")

    orders: list[SellerOrder]
    next_cursor: str | None


class SalesBucket(BaseModel):
    """A product's net sales in one currency, in the UTC hour starting at `hour`."""

    model_config = ConfigDict(extra="forbid")

    hour: str
    product_id: UUID
    units: int
    revenue: Price
    orders: int


class ProductSales(BaseModel):
    """A product's net sales in one currency over the whole range."""

    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    units: int
    revenue: Price
    orders: int


class SalesTotal(BaseModel):
    """Every product's net sales in one currency over the whole range."""

    model_config = ConfigDict(extra="forbid")

    units: int
    revenue: Price


class SellerSales(BaseModel):
    """Hourly sales per product of a seller's confirmed orders, net of cancellations."""

    model_config = ConfigDict(extra="forbid")

    seller_id: UUID
    from_: str = Field(alias="from")
    to: str
    buckets: list[SalesBucket]
    products: list[ProductSales]
    totals: list[SalesTotal]
