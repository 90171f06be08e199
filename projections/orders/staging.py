"""Where a batch's order-history rows wait before they are written: temporary tables, filled by
binary COPY, read by one statement that inserts the placed orders and one that updates the
changed ones.

Binary COPY spares PostgreSQL parsing a JSON document per order and the text of each uuid and
timestamp in it, which cost it about as much as the writes themselves. The temporary tables
belong to the session, are created on first use in it (in the batch's transaction) and are
emptied when each transaction ends. Their JSON and ragged uuid[] values are text, cast as they
are written; a placed order's lines come from its `lines` document.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

import orjson

from projections.orders import rows
from projections.orders.fold import LineState
from projections.orders.projection import PlacedOrder

Columns = tuple[tuple[str, str], ...]

SET: Columns = (
    ("payment_state", "text"),
    ("payment_id", "text"),
    ("payment_failure", "text"),
    ("authorised_minor", "bigint"),
    ("confirmed_at", "timestamptz"),
    ("cancellation_reason", "text"),
    ("rejected_product_ids", "text"),
)
"""rows.SET_COLUMNS as staged (None where the batch did not set them)."""
LINES: Columns = (
    ("line_status", "text"),
    ("line_version", "integer"),
    ("line_updated_at", "timestamptz"),
    ("shipped", "text"),
    ("delivered", "text"),
)
"""What the order's lines copy of it (fold.LineState); shipped and delivered are JSON objects
of a time per seller id, or None."""
PLACED: Columns = (
    ("customer_id", "uuid"),
    ("order_id", "uuid"),
    ("version", "integer"),
    ("status", "text"),
    ("currency", "text"),
    ("total_minor", "bigint"),
    ("lines", "text"),
    ("ship_to", "text"),
    ("seller_ids", "text"),
    ("shipped_sellers", "text"),
    ("delivered_sellers", "text"),
    ("placed_at", "timestamptz"),
    ("updated_at", "timestamptz"),
    ("expires_at", "timestamptz"),
    ("captured_minor", "bigint"),
    ("refunded_minor", "bigint"),
    *SET,
    *LINES,
)
"""The staged row of an order placed in the batch (placed_record)."""
CHANGED: Columns = (
    ("customer_id", "uuid"),
    ("order_id", "uuid"),
    ("version", "integer"),
    ("status", "text"),
    ("updated_at", "timestamptz"),
    ("shipped_sellers", "text"),
    ("delivered_sellers", "text"),
    ("captured_minor", "bigint"),
    ("refunded_minor", "bigint"),
    *SET,
    *LINES,
)
"""The staged row of an order placed before the batch and changed in it (changed_record); the
lines' fields are None unless a change moved them."""


def _table(name: str, columns: Columns) -> str:
    listed = ", ".join(f"{column} {kind}" for column, kind in columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({listed}) ON COMMIT DELETE ROWS;"


STAGE = _table("order_history_placed", PLACED) + "\n" + _table("order_history_changed", CHANGED)
"""Create the session's staging tables (a notice, and nothing else, where they exist)."""
COPY_PLACED = "COPY pg_temp.order_history_placed FROM STDIN (FORMAT BINARY)"
COPY_CHANGED = "COPY pg_temp.order_history_changed FROM STDIN (FORMAT BINARY)"

PLACE = """
WITH made AS (
    INSERT INTO order_customers (order_id, customer_id)
    SELECT order_id, customer_id FROM pg_temp.order_history_placed
    ON CONFLICT DO NOTHING
    RETURNING order_id
), new_orders AS (
    INSERT INTO orders (customer_id, order_id, version, status, currency, total_minor, lines,
        ship_to, seller_ids, shipped_sellers, delivered_sellers, placed_at, updated_at,
        expires_at, confirmed_at, payment_state, payment_id, payment_failure,
        authorised_minor, captured_minor, refunded_minor, cancellation_reason,
        rejected_product_ids)
    SELECT p.customer_id, p.order_id, p.version, p.status, p.currency, p.total_minor,
        p.lines::jsonb, p.ship_to::jsonb, p.seller_ids::uuid[], p.shipped_sellers::uuid[],
        p.delivered_sellers::uuid[], p.placed_at, p.updated_at, p.expires_at, p.confirmed_at,
        coalesce(p.payment_state, 'pending'), p.payment_id, p.payment_failure,
        coalesce(p.authorised_minor, 0), p.captured_minor, p.refunded_minor,
        p.cancellation_reason, coalesce(p.rejected_product_ids::jsonb, '[]')
    FROM pg_temp.order_history_placed AS p JOIN made USING (order_id)
), new_lines AS (
    INSERT INTO seller_order_lines (customer_id, order_id, line_no, seller_id, product_id,
        title, quantity, unit_price_minor, currency, placed_at, updated_at, order_version,
        order_status, shipped_at, delivered_at)
    SELECT p.customer_id, p.order_id, l.line_no, l.seller_id, l.product_id, l.title,
        l.quantity, l.unit_price_minor, p.currency, p.placed_at, p.line_updated_at,
        p.line_version, p.line_status, (p.shipped::jsonb ->> l.seller_id::text)::timestamptz,
        (p.delivered::jsonb ->> l.seller_id::text)::timestamptz
    FROM pg_temp.order_history_placed AS p JOIN made USING (order_id),
        json_to_recordset(p.lines::json) AS l(line_no smallint, seller_id uuid, product_id uuid,
            title text, quantity integer, unit_price_minor bigint)
)
SELECT order_id FROM pg_temp.order_history_placed EXCEPT SELECT order_id FROM made
"""
"""Insert the staged orders, with their routes and lines, where the order's route is new (an
order, its route and its lines are only ever inserted together); return the orders that
existed, whose rows are left as they are."""

WRITE = """
WITH written AS (
    UPDATE orders AS o
    SET version = d.version, status = d.status, updated_at = d.updated_at,
        shipped_sellers = d.shipped_sellers::uuid[],
        delivered_sellers = d.delivered_sellers::uuid[],
        captured_minor = d.captured_minor, refunded_minor = d.refunded_minor,
        payment_state = coalesce(d.payment_state, o.payment_state),
        payment_id = coalesce(d.payment_id, o.payment_id),
        payment_failure = coalesce(d.payment_failure, o.payment_failure),
        authorised_minor = coalesce(d.authorised_minor, o.authorised_minor),
        confirmed_at = coalesce(d.confirmed_at, o.confirmed_at),
        cancellation_reason = coalesce(d.cancellation_reason, o.cancellation_reason),
        rejected_product_ids = coalesce(d.rejected_product_ids::jsonb, o.rejected_product_ids)
    FROM pg_temp.order_history_changed AS d
    WHERE o.customer_id = d.customer_id AND o.order_id = d.order_id
)
UPDATE seller_order_lines AS l
SET order_status = d.line_status, order_version = d.line_version,
    updated_at = d.line_updated_at,
    shipped_at = coalesce((d.shipped::jsonb ->> l.seller_id::text)::timestamptz, l.shipped_at),
    delivered_at = coalesce(
        (d.delivered::jsonb ->> l.seller_id::text)::timestamptz, l.delivered_at
    )
FROM pg_temp.order_history_changed AS d
WHERE d.line_status IS NOT NULL AND l.customer_id = d.customer_id AND l.order_id = d.order_id
"""
"""Write the staged rows of changed orders: what the changes read, and what they set
(rows.SET_COLUMNS) where they set it; and where the order's lines' copy of it moved
(fold.LineState), its lines: the order's status, version and update time as of its last change
that could move the status (not a capture or a refund), and when their seller shipped or
delivered them in the batch."""


def types(columns: Columns) -> list[str]:
    """The types of a staging table's columns, as COPY writes them."""
    return [kind for _, kind in columns]


def placed_record(order: PlacedOrder, row: rows.Row, lines: LineState) -> tuple[Any, ...]:
    """The staged row of an order placed in the batch, as its changes there left it."""
    return (
        order.customer_id,
        order.order_id,
        row["version"],
        row["status"],
        order.currency,
        order.total_minor,
        _json([line._asdict() for line in order.lines]),
        _json(order.ship_to),
        _uuids(dict.fromkeys(line.seller_id for line in order.lines)),
        _uuids(row["shipped_sellers"]),
        _uuids(row["delivered_sellers"]),
        order.placed_at,
        row["updated_at"],
        order.expires_at,
        row["captured_minor"],
        row["refunded_minor"],
        *_set(row),
        *_lines(lines),
    )


def changed_record(row: rows.Row, lines: LineState | None) -> tuple[Any, ...]:
    """The staged row of an order changed in the batch, and of its lines if they moved."""
    return (
        row["customer_id"],
        row["order_id"],
        row["version"],
        row["status"],
        row["updated_at"],
        _uuids(row["shipped_sellers"]),
        _uuids(row["delivered_sellers"]),
        row["captured_minor"],
        row["refunded_minor"],
        *_set(row),
        *((None,) * len(LINES) if lines is None else _lines(lines)),
    )


def _set(row: rows.Row) -> tuple[Any, ...]:
    rejected = row.get("rejected_product_ids")
    return (
        row.get("payment_state"),
        row.get("payment_id"),
        row.get("payment_failure"),
        row.get("authorised_minor"),
        row.get("confirmed_at"),
        row.get("cancellation_reason"),
        None if rejected is None else _json(rejected),
    )


def _lines(lines: LineState) -> tuple[Any, ...]:
    shipped, delivered = lines.stamps.get("shipped_at"), lines.stamps.get("delivered_at")
    return (
        lines.status,
        lines.version,
        lines.updated_at,
        None if shipped is None else _json(shipped),
        None if delivered is None else _json(delivered),
    )


def _uuids(values: Collection[UUID]) -> str:
    """A uuid[] as PostgreSQL reads it from text."""
    if not values:
        return "{}"
    return "{" + orjson.dumps(list(values))[1:-1].decode().replace('"', "") + "}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
