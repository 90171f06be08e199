"""PostgresSellerSalesView: hourly sales per seller and product, and the orders behind them.

`seller_sales_orders` keeps each placed order's lines, the version of the order it reflects
and the hour it was confirmed in. Confirming or cancelling changes that row only if its
version is lower, and the hourly rows change only when it did: a replayed event counts
nothing twice. A batch is read, applied in memory and written in a few statements. A
cancellation or a refund subtracts from the hour of confirmation, so each hour holds the net
sales of the orders confirmed in it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
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


@dataclass(frozen=True)
class SalesStatements:
    """The unit's statements on one pair of tables: orders (a row per order) and sales
    (net sales per seller, bucket, product and currency, the bucket in column bucket)."""

    remember: str
    known: str
    move_orders: str
    add_sales: str

    @classmethod
    def on(cls, orders: str, sales: str, bucket: str) -> SalesStatements:
        """The statements on these tables (names from code, never from input)."""
        return cls(
            remember=f"""
INSERT INTO {orders} (order_id, version, currency, lines)
SELECT o.order_id, 0, o.currency, o.lines
FROM jsonb_to_recordset(%s) AS o(order_id uuid, currency text, lines jsonb)
ON CONFLICT DO NOTHING
""",  # noqa: S608
            known=f"""
SELECT order_id, version, currency, lines, confirmed_{bucket} FROM {orders}
WHERE order_id = ANY(%b)
""",  # noqa: S608
            move_orders=f"""
UPDATE {orders} AS o SET version = d.version, confirmed_{bucket} = d.confirmed
FROM unnest(%b::uuid[], %b::integer[], %b::timestamptz[]) AS d(order_id, version, confirmed)
WHERE o.order_id = d.order_id
""",  # noqa: S608
            add_sales=f"""
INSERT INTO {sales} AS h
    (seller_id, {bucket}, product_id, currency, units, revenue_minor, orders)
SELECT * FROM unnest(%b::uuid[], %b::timestamptz[], %b::uuid[], %b::text[], %b::bigint[],
    %b::bigint[], %b::integer[])
ON CONFLICT (seller_id, {bucket}, product_id, currency) DO UPDATE
SET units = h.units + excluded.units,
    revenue_minor = h.revenue_minor + excluded.revenue_minor,
    orders = h.orders + excluded.orders
""",  # noqa: S608
        )


HOURLY_STATEMENTS = SalesStatements.on("seller_sales_orders", "seller_sales_hourly", "hour")

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

    statements: ClassVar[SalesStatements] = HOURLY_STATEMENTS

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
            self.cursor.execute(self.statements.remember, (Jsonb(self.placed),))
        if not self.moves:
            return
        ids = list({move[0] for move in self.moves})
        set_json_loads(orjson.loads, self.cursor)
        found = self.cursor.execute(self.statements.known, (ids,), binary=True).fetchall()
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
        self.cursor.execute(self.statements.move_orders, moved.columns)
        if sales:
            added = Columns(7)
            for (seller, at, product, currency), (units, revenue, count) in sales.items():
                added.add(seller, at, product, currency, units, revenue, count)
            self.cursor.execute(self.statements.add_sales, added.columns)


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

    create_statements = (TABLES,)

    def unit_of_work(self) -> AbstractContextManager[PostgresSellerSalesUnit]:
        """A unit whose writes and position commit in one transaction."""
        return self.batch(PostgresSellerSalesUnit)

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
