"""An ad hoc analytic projection: refunds per UTC day and currency.

Run it to a point in time, into DuckDB (or --format parquet / csv):

    marketplace analytics replay --projection analytics/examples/refunds_by_day.py:RefundsByDay \\
        --until 2026-12-04T18:00:00Z --out /tmp/refunds

then query /tmp/refunds/analytics.duckdb, e.g. `SELECT * FROM refunds_by_day ORDER BY day`.
A projection names the logs it follows (contexts), the tables it fills (DuckDB column
definitions, a primary key for those it increments) and a handler per event class, which
writes through the unit: insert, update, increment, select (analytics.projection).
"""

from __future__ import annotations

from datetime import UTC
from typing import ClassVar

from analytics.projection import AnalyticProjection, AnalyticUnit, Output
from domain.order import Order
from projections.handlers import handles


class RefundsByDay(AnalyticProjection):
    """How many refunds, and how much, per UTC day and currency."""

    name = "refunds-by-day"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)
    tables: ClassVar[dict[str, str]] = {
        "refunds_by_day": "day DATE, currency VARCHAR, refunds BIGINT, refunded_minor BIGINT, "
        "PRIMARY KEY (day, currency)"
    }
    outputs: ClassVar[dict[str, Output]] = {
        "refunds_by_day": Output("SELECT * FROM refunds_by_day", day="day")
    }

    @handles(Order.Refunded)
    def refunded(self, event: Order.Refunded, unit: AnalyticUnit) -> None:
        """Count the refund on its day."""
        day = event.timestamp.astimezone(UTC).date()
        key = {"day": day, "currency": event.currency}
        unit.increment("refunds_by_day", key, refunds=1, refunded_minor=event.amount_minor)
