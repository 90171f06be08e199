"""The order-history view's writes (tables in projections.orders.tables), guarded by versions.

Events other than Placed carry no customer id (the tables' partition key): writes find it
through `order_customers` and `order_fulfilments`.

Each write of a batch and the batch's position commit in one transaction (PostgresView), a
few multi-row statements per batch, and a row ignores any event at or below the version it
holds, so applying an event twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from projections.orders import rows
from projections.orders.projection import PlacedOrder
from projections.postgres_unit import Columns, PostgresUnit

CUSTOMER = sql.SQL("(SELECT customer_id FROM order_customers WHERE order_id = %(order)s)")
"""The customer of the order named by the %(order)s parameter (its rows' partition key)."""

PLACE = """
WITH placed AS (
    SELECT * FROM jsonb_to_recordset(%s) AS o(order_id uuid, customer_id uuid, currency text,
        total_minor bigint, lines jsonb, ship_to jsonb, seller_ids uuid[], placed_at timestamptz,
        expires_at timestamptz)
), route AS (
    INSERT INTO order_customers (order_id, customer_id)
    SELECT order_id, customer_id FROM placed
    ON CONFLICT DO NOTHING
), made AS (
    INSERT INTO orders (customer_id, order_id, version, status, currency, total_minor, lines,
        ship_to, seller_ids, placed_at, updated_at, expires_at)
    SELECT customer_id, order_id, 0, 'placed', currency, total_minor, lines, ship_to,
        seller_ids, placed_at, placed_at, expires_at
    FROM placed
    ON CONFLICT DO NOTHING
)
INSERT INTO seller_order_lines (customer_id, order_id, line_no, seller_id, product_id, title,
    quantity, unit_price_minor, currency, placed_at, updated_at, order_version, order_status)
SELECT p.customer_id, p.order_id, l.line_no, l.seller_id, l.product_id, l.title, l.quantity,
    l.unit_price_minor, p.currency, p.placed_at, p.placed_at, 0, 'placed'
FROM placed AS p, jsonb_to_recordset(p.lines) AS l(line_no smallint, seller_id uuid,
    product_id uuid, title text, quantity integer, unit_price_minor bigint)
ON CONFLICT DO NOTHING
"""
OPEN_FULFILMENTS = """
INSERT INTO order_fulfilments (fulfilment_id, customer_id, order_id, seller_id)
SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::uuid[])
ON CONFLICT DO NOTHING
"""
ORDERS = """
SELECT o.customer_id, o.order_id, o.version, o.status, cardinality(o.seller_ids) AS sellers,
    o.shipped_sellers, o.delivered_sellers, o.captured_minor, o.refunded_minor
FROM order_customers AS c JOIN orders AS o
    ON o.customer_id = c.customer_id AND o.order_id = c.order_id
WHERE c.order_id = ANY(%b)
"""
"""rows.READ_COLUMNS of the orders named."""
WRITE_ORDERS = """
UPDATE orders AS o
SET version = d.version, status = d.status, updated_at = d.updated_at,
    shipped_sellers = d.shipped_sellers, delivered_sellers = d.delivered_sellers,
    captured_minor = d.captured_minor, refunded_minor = d.refunded_minor,
    payment_state = coalesce(d.payment_state, o.payment_state),
    payment_id = coalesce(d.payment_id, o.payment_id),
    payment_failure = coalesce(d.payment_failure, o.payment_failure),
    authorised_minor = coalesce(d.authorised_minor, o.authorised_minor),
    confirmed_at = coalesce(d.confirmed_at, o.confirmed_at),
    cancellation_reason = coalesce(d.cancellation_reason, o.cancellation_reason),
    rejected_product_ids = coalesce(d.rejected_product_ids, o.rejected_product_ids)
FROM jsonb_to_recordset(%s) AS d(customer_id uuid, order_id uuid, version integer, status text,
    updated_at timestamptz, shipped_sellers uuid[], delivered_sellers uuid[],
    captured_minor bigint, refunded_minor bigint, payment_state text, payment_id text,
    payment_failure text, authorised_minor bigint, confirmed_at timestamptz,
    cancellation_reason text, rejected_product_ids jsonb)
WHERE o.customer_id = d.customer_id AND o.order_id = d.order_id
"""
"""The changed orders' rows: what the changes read, and what they set (rows.SET_COLUMNS) where
they set it."""
SYNC_LINES = """
UPDATE seller_order_lines AS l
SET order_status = d.status, order_version = d.version, updated_at = d.updated_at
FROM unnest(%b::uuid[], %b::uuid[], %b::text[], %b::integer[], %b::timestamptz[])
    AS d(customer_id, order_id, status, version, updated_at)
WHERE l.customer_id = d.customer_id AND l.order_id = d.order_id
"""
"""Each line takes its order's status, version and update time as of the last change that
could move the status (not a capture or a refund)."""
STAMP_LINES = """
UPDATE seller_order_lines AS l
SET shipped_at = coalesce(d.shipped_at, l.shipped_at),
    delivered_at = coalesce(d.delivered_at, l.delivered_at)
FROM unnest(%b::uuid[], %b::uuid[], %b::uuid[], %b::timestamptz[], %b::timestamptz[])
    AS d(customer_id, order_id, seller_id, shipped_at, delivered_at)
WHERE l.customer_id = d.customer_id AND l.order_id = d.order_id AND l.seller_id = d.seller_id
"""
LABEL_LINES = """
UPDATE seller_order_lines AS l
SET label_blob_key = d.blob_key, label_content_type = d.content_type,
    fulfilment_version = d.version
FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::integer[])
        AS d(fulfilment_id, blob_key, content_type, version)
    JOIN order_fulfilments AS f ON f.fulfilment_id = d.fulfilment_id
WHERE l.customer_id = f.customer_id AND l.order_id = f.order_id AND l.seller_id = f.seller_id
    AND l.fulfilment_version < d.version
"""
"""The latest label of each fulfilment, on its seller's lines whose label is older."""

FIELDS = frozenset({"status", *rows.SET_COLUMNS})


Lines = bool | tuple[str, UUID]
"""What an applied change means for the order's lines: nothing (False), copy the order's
status to them (True), or that and stamp one seller's lines with its time in a column."""


def to_json(value: Any) -> str:
    """JSON text for the statements' documents (UUIDs and datetimes as PostgreSQL reads them)."""
    return orjson.dumps(value).decode()


class PostgresOrderHistoryUnit(PostgresUnit):
    """One batch's order-history writes, collected in log order and written when the unit closes.

    flush() inserts the batch's new orders (with their routes and lines) and fulfilments (in
    one statement each, nothing where they exist), reads the rows of every order the other
    events touch, applies those events to them in memory in log order (projections.orders.rows:
    each only above its row's version), and writes the changed rows back; then the lines,
    in a statement each: the status they copy, shipment and delivery times, labels.
    """

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        super().__init__(view, cursor)
        self.placed: list[dict[str, Any]] = []
        self.opened = Columns(4)
        self.changes: list[tuple[UUID, int, datetime, rows.Change, Lines]] = []
        self.labels: dict[UUID, tuple[int, str, str]] = {}

    def place_order(self, order: PlacedOrder) -> None:
        """Insert the order, its route and its lines (nothing if they exist)."""
        lines = [
            {
                "line_no": line.line_no,
                "seller_id": line.seller_id,
                "product_id": line.product_id,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in order.lines
        ]
        self.placed.append(
            {
                "order_id": order.order_id,
                "customer_id": order.customer_id,
                "currency": order.currency,
                "total_minor": order.total_minor,
                "lines": lines,
                "ship_to": order.ship_to,
                "seller_ids": list(dict.fromkeys(line.seller_id for line in order.lines)),
                "placed_at": order.placed_at,
                "expires_at": order.expires_at,
            }
        )

    def change_order(self, order_id: UUID, version: int, at: datetime, **fields: Any) -> None:
        """Set some of an order's fields; a new status is copied to its lines."""
        unknown = set(fields) - FIELDS
        if unknown:
            raise ValueError(f"not an order field: {sorted(unknown)}")
        change = rows.set_fields(fields)
        self.changes.append((order_id, version, at, change, "status" in fields))

    def ship_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the shipped ones; shipped once every seller has shipped."""
        self.changes.append(
            (order_id, version, at, rows.ship(seller_id), ("shipped_at", seller_id))
        )

    def deliver_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the delivered ones; delivered once every seller's part is."""
        self.changes.append(
            (order_id, version, at, rows.deliver(seller_id), ("delivered_at", seller_id))
        )

    def capture_payment(
        self, order_id: UUID, amount_minor: int, version: int, at: datetime
    ) -> None:
        """Add a captured amount."""
        self.changes.append((order_id, version, at, rows.capture(amount_minor), False))

    def refund_payment(self, order_id: UUID, amount_minor: int, version: int, at: datetime) -> None:
        """Add a refunded amount; refunded once it reaches what was captured."""
        self.changes.append((order_id, version, at, rows.refund(amount_minor), False))

    def open_fulfilment(
        self, fulfilment_id: UUID, order_id: UUID, seller_id: UUID, customer_id: UUID
    ) -> None:
        """Remember the fulfilment's order, seller and customer."""
        self.opened.add(fulfilment_id, customer_id, order_id, seller_id)

    def attach_label(
        self, fulfilment_id: UUID, blob_key: str, content_type: str, version: int
    ) -> None:
        """Set the label on every line of the fulfilment's seller in its order."""
        known = self.labels.get(fulfilment_id)
        if known is None or known[0] < version:
            self.labels[fulfilment_id] = (version, blob_key, content_type)

    def flush(self) -> None:
        """Write what the batch collected."""
        if self.placed:
            self.cursor.execute(PLACE, (Jsonb(self.placed, to_json),))
        if self.opened:
            self.cursor.execute(OPEN_FULFILMENTS, self.opened.columns)
        if self.changes:
            self._change_orders()
        if self.labels:
            labels = Columns(4)
            for fulfilment_id, (version, blob_key, content_type) in self.labels.items():
                labels.add(fulfilment_id, blob_key, content_type, version)
            self.cursor.execute(LABEL_LINES, labels.columns)

    def _change_orders(self) -> None:
        orders = self._read(list({order for order, *_ in self.changes}))
        changed: dict[Any, rows.Row] = {}
        synced: dict[Any, tuple[Any, ...]] = {}
        stamps: dict[tuple[Any, Any], dict[str, datetime]] = {}
        for order_id, version, at, change, lines in self.changes:
            order = orders.get(order_id)
            if order is None or not rows.apply(order, version, at, change):
                continue
            changed[order_id] = order
            if lines is False:
                continue
            synced[order_id] = (order["customer_id"], order_id, order["status"], version, at)
            if lines is not True:
                column, seller = lines
                stamps.setdefault((order_id, seller), {})[column] = at
        if changed:
            self.cursor.execute(WRITE_ORDERS, (Jsonb(list(changed.values()), to_json),))
        if synced:
            copied = Columns(5)
            for row in synced.values():
                copied.add(*row)
            self.cursor.execute(SYNC_LINES, copied.columns)
        if stamps:
            stamped = Columns(5)
            for (order_id, seller), times in stamps.items():
                customer = orders[order_id]["customer_id"]
                stamped.add(
                    customer, order_id, seller, times.get("shipped_at"), times.get("delivered_at")
                )
            self.cursor.execute(STAMP_LINES, stamped.columns)

    def _read(self, ids: list[Any]) -> dict[Any, rows.Row]:
        """The rows of these orders."""
        with self.cursor.connection.cursor(row_factory=dict_row, binary=True) as cursor:
            set_json_loads(orjson.loads, cursor)
            return {row["order_id"]: row for row in cursor.execute(ORDERS, (ids,)).fetchall()}
