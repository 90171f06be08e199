"""Marketplace-wide figures from the seller-sales view, for analysts: the top products.

Figures are net of cancellations and refunds, as the view is. GMV per local day or hour is
read from the marketplace-figures view (projections.marketplace_figures.reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.seller_sales.postgres_view import PostgresSellerSalesView

TOP_PRODUCTS = """
SELECT product_id, seller_id, currency, sum(units)::bigint AS units,
    sum(revenue_minor)::bigint AS gmv_minor
FROM seller_sales_hourly
WHERE hour >= %(start)s AND hour < %(end)s
GROUP BY 1, 2, 3
HAVING sum(revenue_minor) > 0
ORDER BY gmv_minor DESC, units DESC, product_id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class TopProduct:
    """A product's net sales in one currency over a range."""

    product_id: UUID
    seller_id: UUID
    currency: str
    units: int
    gmv_minor: int


def top_products(
    view: PostgresSellerSalesView, start: datetime, end: datetime, limit: int
) -> list[TopProduct]:
    """The limit products with the most net sales from start to end (per currency)."""
    params = {"start": start, "end": end, "limit": limit}
    return view.read(lambda conn: rows(conn, TopProduct, TOP_PRODUCTS, params))


def rows(conn: psycopg.Connection[Any], cls: type[Any], query: str, params: dict[str, Any]) -> Any:
    """The query's rows as cls."""
    with conn.cursor(row_factory=class_row(cls)) as cursor:
        return cursor.execute(query, params).fetchall()
