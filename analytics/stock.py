"""Stock movements per item and UTC hour, and each item's sell-through and time to sell out.

Movements: received, adjusted (a signed delta), reserved, released (reservations that ended
unsold), sold (reservations committed) and cancelled (sales undone). An item sells out when
nothing is left to reserve (received - reserved - sold reaches 0) for the first time after
stock came in; sell-through is sold over received (adjustments included).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from analytics.order_lines import utc
from analytics.projection import AnalyticProjection, AnalyticUnit, Output
from domain.inventory import StockItem
from projections.handlers import handles

MOVEMENTS = ("received", "adjusted", "reserved", "released", "sold", "cancelled")

HOURLY = f"""
item VARCHAR, hour TIMESTAMP, {", ".join(f"{m} BIGINT NOT NULL DEFAULT 0" for m in MOVEMENTS)},
PRIMARY KEY (item, hour)
"""
ITEMS = """
item VARCHAR PRIMARY KEY, product_id VARCHAR NOT NULL, seller_id VARCHAR NOT NULL,
received BIGINT NOT NULL DEFAULT 0, reserved BIGINT NOT NULL DEFAULT 0,
sold BIGINT NOT NULL DEFAULT 0, first_received_at TIMESTAMP, sold_out_at TIMESTAMP
"""
STOCK_MOVEMENTS = f"""
SELECT h.hour, i.product_id, i.seller_id, {", ".join(f"h.{m}" for m in MOVEMENTS)}
FROM stock_hourly AS h JOIN stock_items AS i USING (item)
"""  # noqa: S608
SELL_THROUGH = """
SELECT product_id, seller_id, received, sold,
    CASE WHEN received > 0 THEN sold / received END AS sell_through,
    first_received_at, sold_out_at,
    date_diff('second', first_received_at, sold_out_at) AS seconds_to_sell_out
FROM stock_items
"""


class StockMovementsProjection(AnalyticProjection):
    """Units moved per stock item and UTC hour, and how fast each item sold."""

    name = "stock-movements"
    contexts: ClassVar[tuple[str, ...]] = ("inventory",)
    tables: ClassVar[dict[str, str]] = {"stock_hourly": HOURLY, "stock_items": ITEMS}
    outputs: ClassVar[dict[str, Output]] = {
        "stock_movements": Output(STOCK_MOVEMENTS, day="hour"),
        "stock_sell_through": Output(SELL_THROUGH),
    }

    def moved(self, event: Any, unit: AnalyticUnit, movement: str, units: int) -> None:
        """Count units of a movement in the event's hour."""
        hour = utc(event.timestamp).replace(minute=0, second=0, microsecond=0)
        key = {"item": str(event.originator_id), "hour": hour}
        unit.increment("stock_hourly", key, **{movement: units})

    def level(self, event: Any, unit: AnalyticUnit, **change: int) -> None:
        """Move the item's running counts; note when it first sells out."""
        item = str(event.originator_id)
        found = unit.select(
            "SELECT received, reserved, sold, first_received_at, sold_out_at FROM stock_items "
            "WHERE item = ?",
            item,
        )
        if not found:
            return
        received, reserved, sold, first, sold_out = found[0]
        received += change.get("received", 0)
        reserved += change.get("reserved", 0)
        sold += change.get("sold", 0)
        at: datetime = utc(event.timestamp)
        if first is None and change.get("received", 0) > 0:
            first = at
        if sold_out is None and first is not None and received - reserved - sold <= 0:
            sold_out = at
        unit.update(
            "stock_items",
            {"item": item},
            received=received,
            reserved=reserved,
            sold=sold,
            first_received_at=first,
            sold_out_at=sold_out,
        )

    @handles(StockItem.Opened)
    def opened(self, event: StockItem.Opened, unit: AnalyticUnit) -> None:
        """A product's stock item."""
        unit.insert(
            "stock_items",
            item=str(event.originator_id),
            product_id=str(event.product_id),
            seller_id=str(event.seller_id),
        )

    @handles(StockItem.StockReceived)
    def received(self, event: StockItem.StockReceived, unit: AnalyticUnit) -> None:
        """Units came in."""
        self.moved(event, unit, "received", event.quantity)
        self.level(event, unit, received=event.quantity)

    @handles(StockItem.StockAdjusted)
    def adjusted(self, event: StockItem.StockAdjusted, unit: AnalyticUnit) -> None:
        """Units found or written off."""
        self.moved(event, unit, "adjusted", event.delta)
        self.level(event, unit, received=event.delta)

    @handles(StockItem.UnitsReserved)
    def reserved(self, event: StockItem.UnitsReserved, unit: AnalyticUnit) -> None:
        """Units held for an order."""
        self.moved(event, unit, "reserved", event.quantity)
        self.level(event, unit, reserved=event.quantity)

    @handles(StockItem.ReservationReleased)
    def released(self, event: StockItem.ReservationReleased, unit: AnalyticUnit) -> None:
        """A hold ended unsold."""
        self.moved(event, unit, "released", event.quantity)
        self.level(event, unit, reserved=-event.quantity)

    @handles(StockItem.ReservationCommitted)
    def sold(self, event: StockItem.ReservationCommitted, unit: AnalyticUnit) -> None:
        """A hold became a sale."""
        self.moved(event, unit, "sold", event.quantity)
        self.level(event, unit, reserved=-event.quantity, sold=event.quantity)

    @handles(StockItem.SaleCancelled)
    def cancelled(self, event: StockItem.SaleCancelled, unit: AnalyticUnit) -> None:
        """A sale undone."""
        self.moved(event, unit, "cancelled", event.quantity)
        self.level(event, unit, sold=-event.quantity)
