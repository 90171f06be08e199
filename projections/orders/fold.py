"""An order's changes of one batch folded into its row in memory, in log order.

The PostgreSQL unit folds each order's changes once per batch: into the row of an order placed
in the same batch (inserted as the batch leaves it, never updated), or into the row it reads
of an order placed before (written back once). Both go through fold(), so both give the same
row, and the same copy of it on the order's lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from projections.orders import rows
from projections.orders.projection import PlacedOrder

Lines = bool | tuple[str, UUID]
"""What an applied change means for the order's lines: nothing (False), copy the order's
status to them (True), or that and stamp one seller's lines with its time in a column."""
Change = tuple[int, datetime, rows.Change, Lines]
"""One event's change of an order: the event's version and time, what it does to the row and
to the lines."""


class LineState:
    """What an order's lines copy of it (status, version and time of its last change that could
    move the status), and when their sellers shipped or delivered them in the batch."""

    __slots__ = ("stamps", "status", "updated_at", "version")

    def __init__(self, status: str, version: int, updated_at: datetime) -> None:
        self.status = status
        self.version = version
        self.updated_at = updated_at
        self.stamps: dict[str, dict[str, datetime]] = {}

    def document(self) -> dict[str, Any]:
        """The fields the statements read: line_status, line_version, line_updated_at, and
        shipped and delivered, each a time per seller id (as text) or None."""
        return {
            "line_status": self.status,
            "line_version": self.version,
            "line_updated_at": self.updated_at,
            "shipped": self.stamps.get("shipped_at"),
            "delivered": self.stamps.get("delivered_at"),
        }


def placed_row(order: PlacedOrder) -> rows.Row:
    """The row of an order as placed: what the changes read (rows.READ_COLUMNS), updated_at."""
    return {
        "customer_id": order.customer_id,
        "order_id": order.order_id,
        "version": 0,
        "status": "placed",
        "sellers": len({line.seller_id for line in order.lines}),
        "shipped_sellers": [],
        "delivered_sellers": [],
        "captured_minor": 0,
        "refunded_minor": 0,
        "updated_at": order.placed_at,
    }


def placed_lines(order: PlacedOrder) -> LineState:
    """What an order's lines copy of it as placed."""
    return LineState("placed", 0, order.placed_at)


def fold(
    order: rows.Row, changes: list[Change], lines: LineState | None = None
) -> tuple[bool, LineState | None]:
    """Apply the order's changes to its row in log order, each only above the row's version
    (rows.apply); whether any applied, and the lines' state: lines (or a new state if None)
    moved by the changes that could move it, else lines as given."""
    changed = False
    for version, at, change, effect in changes:
        if not rows.apply(order, version, at, change):
            continue
        changed = True
        if effect is False:
            continue
        if lines is None:
            lines = LineState(order["status"], version, at)
        else:
            lines.status, lines.version, lines.updated_at = order["status"], version, at
        if effect is not True:
            column, seller = effect
            lines.stamps.setdefault(column, {})[str(seller)] = at
    return changed, lines
