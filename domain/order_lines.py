"""Order values: the frozen checkout line, the order's status, and the line rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.errors import InvalidValue
from domain.money import Money
from domain.text import bounded

MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 99


class OrderStatus(StrEnum):
    """Where an order is in its life; compares equal to its plain string value."""

    PLACED = "placed"
    STOCK_RESERVED = "stock_reserved"
    REJECTED = "rejected"
    PAYMENT_AUTHORISED = "payment_authorised"
    PAYMENT_FAILED = "payment_failed"
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


EXPIRABLE = frozenset(
    {OrderStatus.PLACED, OrderStatus.STOCK_RESERVED, OrderStatus.PAYMENT_AUTHORISED}
)
CANCELLABLE = EXPIRABLE | {OrderStatus.CONFIRMED}


@dataclass(frozen=True)
class OrderLine:
    """One cart line frozen at checkout: what, from whom, at which unit price, how many."""

    product_id: UUID
    seller_id: UUID
    title: str
    unit_price: Money
    quantity: int

    @property
    def subtotal(self) -> Money:
        """Unit price times quantity."""
        return self.unit_price.times(self.quantity)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OrderLine:
        """The line from its stored record (see as_record); ids may come back as text."""
        price = record["unit_price"]
        return cls(
            _uuid(record["product_id"]),
            _uuid(record["seller_id"]),
            record["title"],
            Money(price["minor"], price["currency"]),
            record["quantity"],
        )

    def as_record(self) -> dict[str, Any]:
        """The line as Order.Placed stores it: a plain record, the price as minor and currency.

        Its shape is the stored event format: changing it needs an upcaster for old events.
        """
        return {
            "product_id": self.product_id,
            "seller_id": self.seller_id,
            "title": self.title,
            "unit_price": {"minor": self.unit_price.minor, "currency": self.unit_price.currency},
            "quantity": self.quantity,
        }


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def checked_line(line: OrderLine) -> OrderLine:
    """The line with its title trimmed, or InvalidValue for a bad quantity or price."""
    quantity = line.quantity
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_QUANTITY_PER_LINE
    ):
        raise InvalidValue(f"quantity must be a whole number from 1 to {MAX_QUANTITY_PER_LINE}")
    if line.unit_price.minor <= 0:
        raise InvalidValue("unit price must be positive")
    return replace(line, title=bounded("title", line.title, 200))
