"""Marketplace-wide figures from the seller-sales view, for analysts: GMV per day, top products.

Days are local days in a time zone: each UTC hour of confirmation goes to the local date it
starts in (zones whose offset is not whole hours split no hour: it counts where it starts).
Figures are net of cancellations and refunds, as the view is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.seller_sales.postgres_view import PostgresSellerSalesView

GMV_BY_DAY = """
SELECT (hour AT TIME ZONE %(tz)s)::date AS day, seller_id, currency,
    sum(units)::bigint AS units, sum(revenue_minor)::bigint AS gmv_minor,
    sum(orders)::bigint AS orders
FROM seller_sales_hourly
WHERE hour >= %(start)s AND hour < %(end)s
GROUP BY 1, 2, 3
HAVING sum(units) <> 0 OR sum(revenue_minor) <> 0
ORDER BY 1, 2, 3
LIMIT %(limit)s
"""
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
class DailyGmv:
    """A seller's net sales in one currency on one local day."""

    day: date
    seller_id: UUID
    currency: str
    units: int
    gmv_minor: int
    orders: int


@dataclass(frozen=True)
class TopProduct:
    """A product's net sales in one currency over a range."""

    product_id: UUID
    seller_id: UUID
    currency: str
    units: int
    gmv_minor: int


def gmv_by_day(
    view: PostgresSellerSalesView, start: datetime, end: datetime, tz: str, limit: int
) -> list[DailyGmv]:
    """Up to limit rows of net sales per local day (in tz, an IANA name), seller and currency."""
    params = {"start": start, "end": end, "tz": tz, "limit": limit}
    return view.read(lambda conn: rows(conn, DailyGmv, GMV_BY_DAY, params))


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
