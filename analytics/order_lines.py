"""Order line facts and GMV: the built-in analytic projections of the order and catalog logs.

No customer id or personal data is kept: a customer is a keyed hash (HMAC-SHA256 under the
analytics key) that joins one customer's lines without saying who they are; the order's
address is never read. Times are UTC. A product's category and brand are those it has where
the replay stops (the catalog and order logs are read side by side, not interleaved).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from analytics.projection import AnalyticUnit, Output
from analytics.pseudonyms import KeyedProjection
from domain.order import Order
from domain.product import Product
from projections.handlers import handles
from projections.seller_sales.projection import refund_shares

LINES = """
order_id VARCHAR NOT NULL, line INTEGER NOT NULL, customer_key VARCHAR NOT NULL,
seller_id VARCHAR NOT NULL, product_id VARCHAR NOT NULL, quantity INTEGER NOT NULL,
unit_price_minor BIGINT NOT NULL, currency VARCHAR NOT NULL, line_total_minor BIGINT NOT NULL,
placed_at TIMESTAMP NOT NULL, confirmed_at TIMESTAMP, cancelled_at TIMESTAMP,
refunded_at TIMESTAMP, refunded_minor BIGINT NOT NULL DEFAULT 0,
PRIMARY KEY (order_id, line)
"""
PRODUCTS = "product_id VARCHAR PRIMARY KEY, category VARCHAR NOT NULL, brand VARCHAR"

ORDER_LINES = """
SELECT l.order_id, l.line, l.customer_key, l.seller_id, l.product_id, p.category, p.brand,
    l.quantity, l.unit_price_minor, l.currency,
    l.placed_at, l.line_total_minor AS placed_minor,
    l.confirmed_at, CASE WHEN l.confirmed_at IS NULL THEN 0 ELSE l.line_total_minor END
        AS confirmed_minor,
    l.cancelled_at, CASE WHEN l.cancelled_at IS NULL THEN 0 ELSE l.line_total_minor END
        AS cancelled_minor,
    l.refunded_at, l.refunded_minor
FROM order_line_state AS l LEFT JOIN order_line_products AS p USING (product_id)
"""
GMV = f"""
SELECT CAST(confirmed_at AS DATE) AS day, seller_id, coalesce(category, '') AS category,
    currency,
    sum(confirmed_minor - cancelled_minor - refunded_minor) AS gmv_minor,
    sum(CASE WHEN cancelled_at IS NULL THEN quantity ELSE 0 END) AS units,
    count(DISTINCT CASE WHEN cancelled_at IS NULL THEN order_id END) AS orders
FROM ({ORDER_LINES}) AS facts
WHERE confirmed_at IS NOT NULL
GROUP BY ALL
"""  # noqa: S608


def utc(at: datetime) -> datetime:
    """at as a naive UTC time (what the exports hold: Parquet, CSV and Spark agree on it)."""
    return at.astimezone(UTC).replace(tzinfo=None)


class OrderLinesProjection(KeyedProjection):
    """One row per order line: who sold what to which (pseudonymous) customer, and its fate."""

    name = "order-lines"
    contexts: ClassVar[tuple[str, ...]] = ("catalog", "orders")
    tables: ClassVar[dict[str, str]] = {
        "order_line_state": LINES,
        "order_line_products": PRODUCTS,
    }
    outputs: ClassVar[dict[str, Output]] = {"order_lines": Output(ORDER_LINES, day="placed_at")}

    @handles(Product.Listed)
    def listed(self, event: Product.Listed, unit: AnalyticUnit) -> None:
        """Note the product's category and brand."""
        brand = event.attributes.get("brand")
        unit.insert(
            "order_line_products",
            product_id=str(event.originator_id),
            category=event.category,
            brand=brand,
        )

    @handles(Product.DetailsUpdated)
    def details_updated(self, event: Product.DetailsUpdated, unit: AnalyticUnit) -> None:
        """Note the product's new category and brand."""
        key = {"product_id": str(event.originator_id)}
        brand = event.attributes.get("brand")
        unit.update("order_line_products", key, category=event.category, brand=brand)

    @handles(Order.Placed)
    def placed(self, event: Order.Placed, unit: AnalyticUnit) -> None:
        """One row per line of the order."""
        customer = self.pseudonym(event.customer_id)
        for index, line in enumerate(event.order_lines):
            unit.insert(
                "order_line_state",
                order_id=str(event.originator_id),
                line=index,
                customer_key=customer,
                seller_id=str(line.seller_id),
                product_id=str(line.product_id),
                quantity=line.quantity,
                unit_price_minor=line.unit_price.minor,
                currency=event.currency,
                line_total_minor=line.quantity * line.unit_price.minor,
                placed_at=utc(event.timestamp),
            )

    @handles(Order.Confirmed)
    def confirmed(self, event: Order.Confirmed, unit: AnalyticUnit) -> None:
        """The order's lines are confirmed."""
        key = {"order_id": str(event.originator_id)}
        unit.update("order_line_state", key, confirmed_at=utc(event.timestamp))

    @handles(Order.Cancelled)
    def cancelled(self, event: Order.Cancelled, unit: AnalyticUnit) -> None:
        """The order's lines are cancelled."""
        key = {"order_id": str(event.originator_id)}
        unit.update("order_line_state", key, cancelled_at=utc(event.timestamp))

    @handles(Order.Refunded)
    def refunded(self, event: Order.Refunded, unit: AnalyticUnit) -> None:
        """The refund is split over the order's lines by value (as seller sales split it)."""
        order = str(event.originator_id)
        rows = unit.select(
            "SELECT line, line_total_minor, refunded_minor FROM order_line_state "
            "WHERE order_id = ? ORDER BY line",
            order,
        )
        shares = refund_shares(event.amount_minor, [int(row[1]) for row in rows])
        at = utc(event.timestamp)
        for (line, _, before), share in zip(rows, shares, strict=True):
            key = {"order_id": order, "line": line}
            unit.update("order_line_state", key, refunded_minor=before + share, refunded_at=at)


class GmvProjection(OrderLinesProjection):
    """Gross merchandise value per UTC day of confirmation, seller, category and currency.

    Net of cancellations and of refunds (each split over its order's lines by value), counted
    on the day the order was confirmed, as seller sales count them in its hour.
    """

    name = "gmv"
    outputs: ClassVar[dict[str, Output]] = {"gmv": Output(GMV, day="day")}
