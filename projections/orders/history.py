"""The order-history contract: what a shopper or a seller may ask, and the records they get."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

MAX_PAGE_SIZE = 100

After = tuple[datetime, UUID]
"""A keyset position: pages list orders placed before (placed_at, order_id), newest first."""

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to a page of items, newest first, and where the next page starts (None: no more)."""

    items: list[T]
    after: After | None


@dataclass(frozen=True)
class OrderRecord:
    """A shopper's order as projected."""

    order_id: UUID
    customer_id: UUID
    version: int
    status: str
    currency: str
    total_minor: int
    lines: list[dict[str, Any]]
    ship_to: dict[str, str]
    placed_at: datetime
    updated_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    payment_state: str
    payment_failure: str | None
    authorised_minor: int
    captured_minor: int
    refunded_minor: int
    cancellation_reason: str | None
    rejected_product_ids: list[str]
    seller_ids: list[UUID]
    shipped_sellers: list[UUID]
    delivered_sellers: list[UUID]

    @property
    def after(self) -> After:
        """The keyset position of the page that follows this order."""
        return (self.placed_at, self.order_id)


@dataclass(frozen=True)
class SellerLine:
    """One line of an order, as its seller sees it."""

    product_id: UUID
    title: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True)
class SellerOrder:
    """A seller's part of an order: its lines, the order's status, shipment and label."""

    order_id: UUID
    placed_at: datetime
    updated_at: datetime
    currency: str
    order_status: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    label_content_type: str | None
    lines: tuple[SellerLine, ...]

    @property
    def subtotal_minor(self) -> int:
        """What the seller's lines add up to."""
        return sum(line.quantity * line.unit_price_minor for line in self.lines)

    @property
    def after(self) -> After:
        """The keyset position of the page that follows this order."""
        return (self.placed_at, self.order_id)


@dataclass(frozen=True)
class SellerLabel:
    """Where a seller's shipping label for an order is stored; both None until attached."""

    blob_key: str | None
    content_type: str | None


def check_limit(limit: int) -> int:
    """The page size if it is 1..MAX_PAGE_SIZE, else ValueError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return limit
