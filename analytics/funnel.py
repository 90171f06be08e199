"""The cart funnel per UTC day: carts created, items added, checked out, confirmed, abandoned.

A cart is known by a pseudonym of its id (its id derives from the shopper's). It is abandoned
if it still holds items and has not changed for ABANDONED_AFTER before the newest event the
replay has seen (to the minute; with --until, about that time); it counts on the day of its
last change.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from analytics.order_lines import utc
from analytics.projection import AnalyticUnit, Output
from analytics.pseudonyms import KeyedProjection
from domain.cart import Cart
from domain.order import Order
from projections.handlers import handles

ABANDONED_AFTER = timedelta(hours=24)
STAGES = ("carts_created", "items_added", "checked_out", "confirmed", "abandoned")

FUNNEL = f"""
WITH abandoned AS (
    SELECT CAST(c.last_change AS DATE) AS day, 'abandoned' AS stage, count(*) AS n
    FROM funnel_carts AS c, (SELECT max(minute) AS latest FROM funnel_clock) AS k
    WHERE c.cart IN (SELECT cart FROM funnel_cart_lines GROUP BY cart HAVING sum(quantity) > 0)
        AND c.last_change < k.latest - INTERVAL {int(ABANDONED_AFTER.total_seconds())} SECOND
    GROUP BY ALL
), stages AS (SELECT day, stage, n FROM funnel_daily UNION ALL SELECT * FROM abandoned)
SELECT day, {", ".join(f"coalesce(sum(n) FILTER (WHERE stage = '{s}'), 0) AS {s}" for s in STAGES)}
FROM stages GROUP BY day
"""  # noqa: S608


class CartFunnelProjection(KeyedProjection):
    """How many carts were created, filled, checked out, confirmed or left, per UTC day."""

    name = "cart-funnel"
    contexts: ClassVar[tuple[str, ...]] = ("carts", "orders")
    tables: ClassVar[dict[str, str]] = {
        "funnel_daily": "day DATE, stage VARCHAR, n BIGINT NOT NULL, PRIMARY KEY (day, stage)",
        "funnel_carts": "cart VARCHAR PRIMARY KEY, last_change TIMESTAMP NOT NULL",
        "funnel_cart_lines": "cart VARCHAR, product_id VARCHAR, quantity INTEGER NOT NULL, "
        "PRIMARY KEY (cart, product_id)",
        "funnel_clock": "minute TIMESTAMP PRIMARY KEY",
    }
    outputs: ClassVar[dict[str, Output]] = {"cart_funnel": Output(FUNNEL, day="day")}

    def count(self, unit: AnalyticUnit, stage: str, at: datetime) -> None:
        """One more of stage on at's UTC day; the minute of at is one the replay has seen."""
        moment = utc(at)
        unit.increment("funnel_daily", {"day": moment.date(), "stage": stage}, n=1)
        unit.insert("funnel_clock", minute=moment.replace(second=0, microsecond=0))

    def touched(self, event: Any, unit: AnalyticUnit) -> str:
        """The cart's pseudonym, its last change now."""
        cart = self.pseudonym(event.originator_id)
        unit.update("funnel_carts", {"cart": cart}, last_change=utc(event.timestamp))
        return cart

    @handles(Cart.Created)
    def created(self, event: Cart.Created, unit: AnalyticUnit) -> None:
        """A new cart."""
        cart = self.pseudonym(event.originator_id)
        unit.insert("funnel_carts", cart=cart, last_change=utc(event.timestamp))
        self.count(unit, "carts_created", event.timestamp)

    @handles(Cart.ItemAdded)
    def item_added(self, event: Cart.ItemAdded, unit: AnalyticUnit) -> None:
        """Units of a product into the cart."""
        cart = self.touched(event, unit)
        line = {"cart": cart, "product_id": str(event.product_id)}
        unit.increment("funnel_cart_lines", line, quantity=event.quantity)
        self.count(unit, "items_added", event.timestamp)

    @handles(Cart.QuantityChanged)
    def quantity_changed(self, event: Cart.QuantityChanged, unit: AnalyticUnit) -> None:
        """A line's new quantity."""
        cart = self.touched(event, unit)
        line = {"cart": cart, "product_id": str(event.product_id)}
        unit.update("funnel_cart_lines", line, quantity=event.quantity)

    @handles(Cart.ItemRemoved)
    def item_removed(self, event: Cart.ItemRemoved, unit: AnalyticUnit) -> None:
        """A line out of the cart."""
        cart = self.touched(event, unit)
        line = {"cart": cart, "product_id": str(event.product_id)}
        unit.update("funnel_cart_lines", line, quantity=0)

    @handles(Cart.Cleared)
    def cleared(self, event: Cart.Cleared, unit: AnalyticUnit) -> None:
        """The cart emptied (a checkout clears it)."""
        cart = self.touched(event, unit)
        unit.update("funnel_cart_lines", {"cart": cart}, quantity=0)

    @handles(Order.Placed)
    def checked_out(self, event: Order.Placed, unit: AnalyticUnit) -> None:
        """A checkout placed an order."""
        self.count(unit, "checked_out", event.timestamp)

    @handles(Order.Confirmed)
    def confirmed(self, event: Order.Confirmed, unit: AnalyticUnit) -> None:
        """An order confirmed."""
        self.count(unit, "confirmed", event.timestamp)
