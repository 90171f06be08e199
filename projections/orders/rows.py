"""Order-history changes applied to order rows in memory, in log order, as the view defines them.

An order's row (READ_COLUMNS of `orders`, then what changes set) is a dict keyed by column
name. A change
applies only if its version is above the row's (so an event applied twice changes nothing),
then sets the row's version and updated_at. What it means for the order's lines (their copy
of the status, a shipment or delivery time) is left to the caller, which writes the lines
in one statement per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

Row = dict[str, Any]
Change = Callable[[Row], None]
"""What one event does to an order's row, once its version is checked."""

READ_COLUMNS = (
    "customer_id",
    "order_id",
    "version",
    "status",
    "sellers",
    "shipped_sellers",
    "delivered_sellers",
    "captured_minor",
    "refunded_minor",
)
"""What the changes read of an order's row (`sellers`: how many seller_ids it has)."""
SET_COLUMNS = (
    "payment_state",
    "payment_id",
    "payment_failure",
    "authorised_minor",
    "confirmed_at",
    "cancellation_reason",
    "rejected_product_ids",
)
"""Columns the changes only set, never to null and never reading them first."""


def apply(order: Row, version: int, at: datetime, change: Change) -> bool:
    """Apply change if version is above the order's; whether it did."""
    if order["version"] >= version:
        return False
    change(order)
    order["version"], order["updated_at"] = version, at
    return True


def set_fields(fields: dict[str, Any]) -> Change:
    """Set some of an order's fields."""
    return lambda order: order.update(fields)


def ship(seller_id: UUID) -> Change:
    """The seller shipped its lines: shipped once every seller has, else partially."""

    def change(order: Row) -> None:
        shipped = order["shipped_sellers"]
        everyone = len(shipped) + 1 >= order["sellers"]
        order["status"] = "shipped" if everyone else "partially_shipped"
        order["shipped_sellers"] = [*shipped, seller_id]

    return change


def deliver(seller_id: UUID) -> Change:
    """The seller's lines were delivered: the order is delivered once every seller's are."""

    def change(order: Row) -> None:
        delivered = order["delivered_sellers"]
        if len(delivered) + 1 >= order["sellers"]:
            order["status"] = "delivered"
        order["delivered_sellers"] = [*delivered, seller_id]

    return change


def capture(amount_minor: int) -> Change:
    """Add a captured amount."""

    def change(order: Row) -> None:
        order["captured_minor"] += amount_minor
        order["payment_state"] = "captured"

    return change


def refund(amount_minor: int) -> Change:
    """Add a refunded amount; refunded once it reaches what was captured."""

    def change(order: Row) -> None:
        whole = order["refunded_minor"] + amount_minor >= order["captured_minor"]
        order["payment_state"] = "refunded" if whole else "partially_refunded"
        order["refunded_minor"] += amount_minor

    return change
