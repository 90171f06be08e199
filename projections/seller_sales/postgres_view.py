"""PostgresSellerSalesView: hourly sales per seller and product, and the orders behind them.

`seller_sales_orders` keeps each placed order's lines, the version of the order it reflects
and the hour it was confirmed in. Confirming or cancelling changes that row only if its
version is lower, and the hourly rows change only when it did: a replayed event counts
nothing twice. A batch is read, applied in memory and written in a few statements. A
cancellation or a refund subtracts from the hour of confirmation, so each hour holds the net
sales of the orders confirmed in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb, set_json_loads

from projections.seller_sales.projection import SoldLine, refund_shares
from projections.stores.postgres.reads import PostgresReadView
from projections.stores.postgres.unit import Columns, PostgresUnit

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

REMEMBER = """
INSERT INTO seller_sales_orders (order_id, version, currency, lines)
SELECT o.order_id, 0, o.currency, o.lines
FROM jsonb_to_recordset(%s) AS o(order_id uuid, currency text, lines jsonb)
ON CONFLICT DO NOTHING
"""
KNOWN = """
SELECT order_id, version, currency, lines, confirmed_hour FROM seller_sales_orders
WHERE order_id = ANY(%b)
"""
MOVE_ORDERS = """
UPDATE seller_sales_orders AS o SET version = d.version, confirmed_hour = d.confirmed_hour
FROM unnest(%b::uuid[], %b::integer[], %b::timestamptz[]) AS d(order_id, version, confirmed_hour)
WHERE o.order_id = d.order_id
"""
ADD_SALES = """
INSERT INTO seller_sales_hourly AS h
    (seller_id, hour, product_id, currency, units, revenue_minor, orders)
SELECT * FROM unnest(%b::uuid[], %b::timestamptz[], %b::uuid[], %b::text[], %b::bigint[],
    %b::bigint[], %b::integer[])
ON CONFLICT (seller_id, hour, product_id, currency) DO UPDATE
SET units = h.units + excluded.units,
    revenue_minor = h.revenue_minor + excluded.revenue_minor,
    orders = h.orders + excluded.orders
"""
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
    cancelled since; revenue_minor is also net of refunds (each split over its order's lines
    by value); orders counts those orders (each has at most one line per product).
    """

    hour: datetime
    product_id: UUID
    currency: str
    units: int
    revenue_minor: int
    orders: int


class PostgresSellerSalesUnit(PostgresUnit):
    """One batch's seller-sales writes, collected in log order and written when the unit closes.

    flush() stores the batch's new orders, reads every order its confirmations and
    cancellations touch, applies those in order to the rows in memory (a row takes an event
    only above its version, as the statements one by one did), then writes the rows and the
    hourly sums they moved, one statement each.
    """

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        super().__init__(view, cursor)
        self.placed: list[dict[str, Any]] = []
        self.moves: list[tuple[UUID, int, datetime | None, int]] = []
        """(order, version, hour, refund): a confirmation in hour, a refund of that many minor
        units (hour None), or a cancellation (hour None, refund 0)."""

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
        self.placed.append({"order_id": str(order_id), "currency": currency, "lines": document})

    def count_sale(self, order_id: UUID, hour: datetime, version: int) -> None:
        """Add the order's lines to the hour it was confirmed in, once."""
        self.moves.append((order_id, version, hour, 0))

    def uncount_sale(self, order_id: UUID, version: int) -> None:
        """Subtract the order's lines from its hour of confirmation, once, if it was confirmed."""
        self.moves.append((order_id, version, None, 0))

    def refund_sale(self, order_id: UUID, amount_minor: int, version: int) -> None:
        """Subtract the refund from its lines' revenue in the hour of confirmation, once."""
        self.moves.append((order_id, version, None, amount_minor))

    def flush(self) -> None:
        """Write what the batch collected."""
        if self.placed:
            self.cursor.execute(REMEMBER, (Jsonb(self.placed),))
        if not self.moves:
            return
        ids = list({move[0] for move in self.moves})
        set_json_loads(orjson.loads, self.cursor)
        found = self.cursor.execute(KNOWN, (ids,), binary=True).fetchall()
        # order -> [version, currency, lines, confirmed hour]
        rows: dict[Any, list[Any]] = {row[0]: list(row[1:]) for row in found}
        sales: dict[tuple[UUID, datetime, UUID, str], list[int]] = {}
        changed: set[UUID] = set()
        for order, version, hour, refund in self.moves:
            row = rows.get(order)
            if row is None or row[0] >= version:
                continue
            row[0] = version
            changed.add(order)
            if hour is not None:
                row[3] = hour
            if row[3] is not None:
                add_sales(sales, row, hour is not None, refund)
        if not changed:
            return
        moved = Columns(3)
        for order in changed:
            version, _, _, confirmed = rows[order]
            moved.add(order, version, confirmed)
        self.cursor.execute(MOVE_ORDERS, moved.columns)
        if sales:
            added = Columns(7)
            for (seller, at, product, currency), (units, revenue, count) in sales.items():
                added.add(seller, at, product, currency, units, revenue, count)
            self.cursor.execute(ADD_SALES, added.columns)


def add_sales(
    sales: dict[tuple[UUID, datetime, UUID, str], list[int]],
    row: list[Any],
    confirmed: bool,
    refund: int,
) -> None:
    """Add one move of a confirmed order (row: version, currency, lines, hour) to sales.

    A confirmation adds its lines, a cancellation subtracts them, a refund subtracts its
    shares (refund_shares) from the lines' revenue only.
    """
    lines, hour, currency = row[2], row[3], row[1]
    values = [int(line["quantity"]) * int(line["unit_price_minor"]) for line in lines]
    shares = refund_shares(refund, values) if refund else None
    sign = 1 if confirmed else -1
    for index, line in enumerate(lines):
        key = (UUID(line["seller_id"]), hour, UUID(line["product_id"]), currency)
        total = sales.setdefault(key, [0, 0, 0])
        if shares is not None:
            total[1] -= shares[index]
            continue
        total[0] += sign * int(line["quantity"])
        total[1] += sign * values[index]
        total[2] += sign


class PostgresSellerSalesView(PostgresReadView):
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
            batch = PostgresSellerSalesUnit(unit.view, unit.cursor)
            yield batch
            batch.flush()

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

        return self.read(read)
