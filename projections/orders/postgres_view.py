"""PostgresOrderHistoryView: the order-history tables, written by the projector and read by the API.

A shopper's reads name the customer, so they touch one partition. A seller's reads use the
(seller_id, placed_at, order_id) index of every partition, merged newest first. Reads before
the projector has created the tables answer as an empty view.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row, dict_row

from projections.orders.history import (
    After,
    OrderRecord,
    Page,
    SellerLabel,
    SellerLine,
    SellerOrder,
    check_limit,
)
from projections.orders.postgres_writes import CUSTOMER, PostgresOrderHistoryUnit
from projections.orders.tables import SCHEMA
from projections.stores.postgres.reads import PostgresReadView

ORDER_COLUMNS = sql.SQL(", ").join(sql.Identifier(field.name) for field in fields(OrderRecord))
BEFORE = sql.SQL(" AND (placed_at, order_id) < (%(after_at)s, %(after_id)s)")

CUSTOMER_ORDERS = sql.SQL(
    "SELECT {columns} FROM orders WHERE customer_id = %(customer)s{before} "
    "ORDER BY placed_at DESC, order_id DESC LIMIT %(limit)s"
)
SELLER_ORDERS = sql.SQL(
    """
WITH page AS (
    SELECT placed_at, order_id FROM seller_order_lines
    WHERE seller_id = %(seller)s{before}
    GROUP BY placed_at, order_id
    ORDER BY placed_at DESC, order_id DESC
    LIMIT %(limit)s
)
SELECT l.order_id, l.placed_at, l.updated_at, l.currency, l.order_status, l.shipped_at,
    l.delivered_at, l.label_content_type, l.product_id, l.title, l.quantity, l.unit_price_minor
FROM page AS p JOIN seller_order_lines AS l
    ON l.seller_id = %(seller)s AND l.placed_at = p.placed_at AND l.order_id = p.order_id
ORDER BY l.placed_at DESC, l.order_id DESC, l.line_no
"""
)
SELLER_LABEL = sql.SQL(
    "SELECT label_blob_key, label_content_type FROM seller_order_lines "
    "WHERE customer_id = {} AND order_id = %(order)s AND seller_id = %(seller)s LIMIT 1"
).format(CUSTOMER)


class PostgresOrderHistoryView(PostgresReadView):
    """Each shopper's orders and each seller's part of them, on the pool's schema."""

    tables = ("orders", "seller_order_lines", "order_customers", "order_fulfilments")
    """The tables of one version (what dropping the unversioned layout removes)."""

    default_name = "orders"

    def create(self) -> None:
        """Create the partitioned tables, their partitions and the lookup tables."""
        self.create_tables(SCHEMA)

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresOrderHistoryUnit]:
        """A unit whose writes and position commit in one transaction."""
        with self.transaction() as unit:
            batch = PostgresOrderHistoryUnit(unit.view, unit.cursor)
            yield batch
            batch.flush()

    def customer_orders(
        self, customer_id: UUID, limit: int, after: After | None = None
    ) -> Page[OrderRecord]:
        """Up to limit of the customer's orders placed before after, newest first."""
        params = {"customer": customer_id, "limit": check_limit(limit) + 1, **_after(after)}
        query = CUSTOMER_ORDERS.format(
            columns=ORDER_COLUMNS, before=BEFORE if after else sql.SQL("")
        )

        def read(conn: psycopg.Connection[Any]) -> list[OrderRecord]:
            with conn.cursor(row_factory=class_row(OrderRecord)) as cursor:
                return cursor.execute(query, params).fetchall()

        return _page(self.read(read), limit)

    def customer_order(self, customer_id: UUID, order_id: UUID) -> OrderRecord | None:
        """The customer's order, or None if the customer has no such order."""
        query = sql.SQL("SELECT {} FROM orders WHERE customer_id = %s AND order_id = %s").format(
            ORDER_COLUMNS
        )

        def read(conn: psycopg.Connection[Any]) -> OrderRecord | None:
            with conn.cursor(row_factory=class_row(OrderRecord)) as cursor:
                return cursor.execute(query, (customer_id, order_id)).fetchone()

        return self.read(read)

    def seller_orders(
        self, seller_id: UUID, limit: int, after: After | None = None
    ) -> Page[SellerOrder]:
        """Up to limit orders with lines of the seller placed before after, newest first."""
        params = {"seller": seller_id, "limit": check_limit(limit) + 1, **_after(after)}
        query = SELLER_ORDERS.format(before=BEFORE if after else sql.SQL(""))

        def read(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cursor:
                return cursor.execute(query, params).fetchall()

        return _page(_group(self.read(read)), limit)

    def seller_label(self, seller_id: UUID, order_id: UUID) -> SellerLabel | None:
        """The seller's label for the order; None if the order has no lines of the seller."""

        def read(conn: psycopg.Connection[Any]) -> SellerLabel | None:
            row = conn.execute(SELLER_LABEL, {"order": order_id, "seller": seller_id}).fetchone()
            return None if row is None else SellerLabel(row[0], row[1])

        return self.read(read)


def _page(items: list[Any], limit: int) -> Page[Any]:
    """The first limit items, and the position after the last if there were more."""
    if len(items) <= limit:
        return Page(items, None)
    kept = items[:limit]
    return Page(kept, kept[-1].after)


def _after(after: After | None) -> dict[str, Any]:
    if after is None:
        return {}
    return {"after_at": after[0], "after_id": after[1]}


def _group(rows: list[dict[str, Any]]) -> list[SellerOrder]:
    orders: dict[UUID, list[dict[str, Any]]] = {}
    for row in rows:
        orders.setdefault(row["order_id"], []).append(row)
    return [
        SellerOrder(
            order_id=order_id,
            placed_at=lines[0]["placed_at"],
            updated_at=max(line["updated_at"] for line in lines),
            currency=lines[0]["currency"],
            order_status=lines[0]["order_status"],
            shipped_at=lines[0]["shipped_at"],
            delivered_at=lines[0]["delivered_at"],
            label_content_type=lines[0]["label_content_type"],
            lines=tuple(
                SellerLine(
                    line["product_id"], line["title"], line["quantity"], line["unit_price_minor"]
                )
                for line in lines
            ),
        )
        for order_id, lines in orders.items()
    ]
