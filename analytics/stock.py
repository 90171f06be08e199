"""Stock movements per item and UTC hour, and each item's sell-through and time to sell out.

Movements: received, adjusted (a signed delta), reserved, released (reservations that ended
unsold), sold (reservations committed) and cancelled (sales undone). Each event is one row,
keyed by the stock item and its version (so rows keep the item's order); the outputs add
them up. An item sells out when nothing is left to reserve (received - reserved - sold
reaches 0) for the first time after stock came in; sell-through is sold over received
(adjustments included).
"""

from __future__ import annotations

from typing import Any, ClassVar

from analytics.order_lines import utc
from analytics.projection import AnalyticProjection, AnalyticUnit, Output
from domain.inventory import StockItem
from projections.handlers import handles

MOVEMENTS = ("received", "adjusted", "reserved", "released", "sold", "cancelled")
AVAILABLE = "received + adjusted - reserved + released + cancelled"
"""What a movement changes of the units left to reserve (a sale was reserved already)."""

MOVES = f"""
item VARCHAR, version INTEGER, moved_at TIMESTAMP NOT NULL,
{", ".join(f"{m} BIGINT NOT NULL DEFAULT 0" for m in MOVEMENTS)},
PRIMARY KEY (item, version)
"""
ITEMS = "item VARCHAR PRIMARY KEY, product_id VARCHAR NOT NULL, seller_id VARCHAR NOT NULL"
STOCK_MOVEMENTS = f"""
SELECT date_trunc('hour', m.moved_at) AS hour, i.product_id, i.seller_id,
    {", ".join(f"sum(m.{m})::BIGINT AS {m}" for m in MOVEMENTS)}
FROM stock_moves AS m JOIN stock_items AS i USING (item)
GROUP BY ALL
"""  # noqa: S608
SELL_THROUGH = f"""
WITH running AS (
    SELECT item, moved_at,
        sum(received + adjusted) OVER (PARTITION BY item ORDER BY version) AS stocked,
        sum({AVAILABLE}) OVER (PARTITION BY item ORDER BY version) AS available
    FROM stock_moves
), totals AS (
    SELECT item, sum(received + adjusted) AS received, sum(sold - cancelled) AS sold,
        min(moved_at) FILTER (WHERE received > 0) AS first_received_at
    FROM stock_moves GROUP BY item
), sold_out AS (
    SELECT item, min(moved_at) AS sold_out_at FROM running
    WHERE stocked > 0 AND available <= 0 GROUP BY item
)
SELECT i.product_id, i.seller_id, t.received, t.sold,
    CASE WHEN t.received > 0 THEN t.sold / t.received END AS sell_through,
    t.first_received_at, s.sold_out_at,
    date_diff('second', t.first_received_at, s.sold_out_at) AS seconds_to_sell_out
FROM stock_items AS i JOIN totals AS t USING (item) LEFT JOIN sold_out AS s USING (item)
"""  # noqa: S608


class StockMovementsProjection(AnalyticProjection):
    """Units moved per stock item and UTC hour, and how fast each item sold."""

    name = "stock-movements"
    contexts: ClassVar[tuple[str, ...]] = ("inventory",)
    tables: ClassVar[dict[str, str]] = {"stock_moves": MOVES, "stock_items": ITEMS}
    outputs: ClassVar[dict[str, Output]] = {
        "stock_movements": Output(STOCK_MOVEMENTS, day="hour"),
        "stock_sell_through": Output(SELL_THROUGH),
    }

    def moved(self, event: Any, unit: AnalyticUnit, movement: str, units: int) -> None:
        """One row: units of a movement, at the event's time and version."""
        unit.insert(
            "stock_moves",
            item=str(event.originator_id),
            version=event.originator_version,
            moved_at=utc(event.timestamp),
            **{movement: units},
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

    @handles(StockItem.StockAdjusted)
    def adjusted(self, event: StockItem.StockAdjusted, unit: AnalyticUnit) -> None:
        """Units found or written off."""
        self.moved(event, unit, "adjusted", event.delta)

    @handles(StockItem.UnitsReserved)
    def reserved(self, event: StockItem.UnitsReserved, unit: AnalyticUnit) -> None:
        """Units held for an order."""
        self.moved(event, unit, "reserved", event.quantity)

    @handles(StockItem.ReservationReleased)
    def released(self, event: StockItem.ReservationReleased, unit: AnalyticUnit) -> None:
        """A hold ended unsold."""
        self.moved(event, unit, "released", event.quantity)

    @handles(StockItem.ReservationCommitted)
    def sold(self, event: StockItem.ReservationCommitted, unit: AnalyticUnit) -> None:
        """A hold became a sale."""
        self.moved(event, unit, "sold", event.quantity)

    @handles(StockItem.SaleCancelled)
    def cancelled(self, event: StockItem.SaleCancelled, unit: AnalyticUnit) -> None:
        """A sale undone."""
        self.moved(event, unit, "cancelled", event.quantity)
