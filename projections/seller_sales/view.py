"""SellerSalesView: hourly sales per seller and product in PostgreSQL, and the orders behind them.

`seller_sales_orders` keeps each placed order's lines, the version of the order it reflects
and the hour it was confirmed in. Confirming or cancelling updates that row only if its
version is lower, and the hourly rows change in the same statement, only when it did: a
replayed event counts nothing twice. A cancellation subtracts from the hour of confirmation,
so each hour holds the net sales of the orders confirmed in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from projections.postgres_reads import PostgresReadView
from projections.postgres_unit import PostgresUnit
from projections.seller_sales.projection import SoldLine

MAX_RANGE = timedelta(days=31)
MAX_BUCKETS = 10_000
"""The most hourly rows one read returns; a larger answer needs a narrower range."""

TABLES = """
CREATE TABLE IF NOT EXISTS seller_sales_orders (
    order_id uuid PRIMARY KEY,
    version integer NOT NULL,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    confirmed_hour timestamptz
);
CREATE TABLE IF NOT EXISTS seller_sales_hourly (
    seller_id uuid NOT NULL,
    hour timestamptz NOT NULL,
    product_id uuid NOT NULL,
    currency text NOT NULL,
    units bigint NOT NULL,
    revenue_minor bigint NOT NULL,
    orders integer NOT NULL,
    PRIMARY KEY (seller_id, hour, product_id, currency)
);
"""

ADD_LINES = """
INSERT INTO seller_sales_hourly AS h
    (seller_id, hour, product_id, currency, units, revenue_minor, orders)
SELECT l.seller_id, c.confirmed_hour, l.product_id, c.currency, %(sign)s * l.quantity,
    %(sign)s * l.quantity * l.unit_price_minor, %(sign)s
FROM changed AS c, jsonb_to_recordset(c.lines)
    AS l(seller_id uuid, product_id uuid, quantity integer, unit_price_minor bigint)
WHERE c.confirmed_hour IS NOT NULL
ON CONFLICT (seller_id, hour, product_id, currency) DO UPDATE
SET units = h.units + excluded.units,
    revenue_minor = h.revenue_minor + excluded.revenue_minor,
    orders = h.orders + excluded.orders
"""

COUNT = sql.SQL(
    "WITH changed AS (UPDATE seller_sales_orders SET version = %(version)s, "
    "confirmed_hour = %(hour)s WHERE order_id = %(order)s AND version < %(version)s "
    "RETURNING lines, currency, confirmed_hour) {}"
).format(sql.SQL(ADD_LINES))
UNCOUNT = sql.SQL(
    "WITH changed AS (UPDATE seller_sales_orders SET version = %(version)s "
    "WHERE order_id = %(order)s AND version < %(version)s "
    "RETURNING lines, currency, confirmed_hour) {}"
).format(sql.SQL(ADD_LINES))
HOURLY = """
SELECT hour, product_id, currency, units, revenue_minor, orders FROM seller_sales_hourly
WHERE seller_id = %(seller)s AND hour >= %(start)s AND hour < %(end)s
    AND (%(product)s::uuid IS NULL OR product_id = %(product)s::uuid)
    AND (units <> 0 OR revenue_minor <> 0 OR orders <> 0)
ORDER BY hour, product_id, currency
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class SalesBucket:
    """A product's net sales in one currency within one UTC hour.

    units and revenue_minor add up the lines of orders confirmed in the hour, less those
    cancelled since; orders counts those orders (each has at most one line per product).
    """

    hour: datetime
    product_id: UUID
    currency: str
    units: int
    revenue_minor: int
    orders: int


class PostgresSellerSalesUnit(PostgresUnit):
    """One batch's seller-sales writes, in the batch's transaction."""

    def remember_order(self, order_id: UUID, currency: str, lines: tuple[SoldLine, ...]) -> None:
        """Keep the order's lines (nothing if it is known)."""
        document = [
            {
                "seller_id": str(line.seller_id),
                "product_id": str(line.product_id),
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in lines
        ]
        self.cursor.execute(
            "INSERT INTO seller_sales_orders (order_id, version, currency, lines) "
            "VALUES (%s, 0, %s, %s) ON CONFLICT DO NOTHING",
            (order_id, currency, Jsonb(document)),
        )

    def count_sale(self, order_id: UUID, hour: datetime, version: int) -> None:
        """Add the order's lines to the hour it was confirmed in, once."""
        self.cursor.execute(COUNT, {"order": order_id, "hour": hour, "version": version, "sign": 1})

    def uncount_sale(self, order_id: UUID, version: int) -> None:
        """Subtract the order's lines from its hour of confirmation, once, if it was confirmed."""
        self.cursor.execute(UNCOUNT, {"order": order_id, "version": version, "sign": -1})


class SellerSalesView(PostgresReadView):
    """Hourly sales per seller and product, on the pool's schema."""

    tables = ("seller_sales_orders", "seller_sales_hourly")
    """The tables of one version (what dropping the unversioned layout removes)."""

    default_name = "seller-sales"

    def create(self) -> None:
        """Create the tables."""
        self.create_tables(TABLES)

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresSellerSalesUnit]:
        """A unit whose writes and position commit in one transaction."""
        with self.transaction() as unit:
            yield PostgresSellerSalesUnit(unit.view, unit.cursor)

    def hourly(
        self,
        seller_id: UUID,
        start: datetime,
        end: datetime,
        product_id: UUID | None = None,
        limit: int = MAX_BUCKETS,
    ) -> list[SalesBucket]:
        """Up to limit non-empty hours from start (inclusive) to end, by hour and product."""
        params = {
            "seller": seller_id,
            "start": start,
            "end": end,
            "product": product_id,
            "limit": limit,
        }

        def read(conn: psycopg.Connection[Any]) -> list[SalesBucket]:
            with conn.cursor(row_factory=class_row(SalesBucket)) as cursor:
                return cursor.execute(HOURLY, params).fetchall()

        return self.read(read, [])
