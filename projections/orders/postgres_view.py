"""The order-history view's writes: partitioned tables, each change guarded by the row's version.

`orders` holds one row per order and `seller_order_lines` one row per order line; both are
hash-partitioned by customer id. Events other than Placed carry no customer id, so
`order_customers` maps an order to its customer and `order_fulfilments` a fulfilment to its
order and seller; every write names the customer, so it touches one partition.

Each write of a batch and the batch's position commit in one transaction (PostgresView), and
a row ignores any event at or below the version it holds, so applying an event twice changes
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from projections.orders.projection import PlacedOrder
from projections.postgres_unit import PostgresUnit

PARTITIONS = 8
"""Hash partitions of each customer-keyed table (fixed once the tables exist)."""

TABLES = """
CREATE TABLE IF NOT EXISTS orders (
    customer_id uuid NOT NULL,
    order_id uuid NOT NULL,
    version integer NOT NULL,
    status text NOT NULL,
    currency text NOT NULL,
    total_minor bigint NOT NULL,
    lines jsonb NOT NULL,
    ship_to jsonb NOT NULL,
    seller_ids uuid[] NOT NULL,
    shipped_sellers uuid[] NOT NULL DEFAULT '{}',
    delivered_sellers uuid[] NOT NULL DEFAULT '{}',
    placed_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    confirmed_at timestamptz,
    payment_state text NOT NULL DEFAULT 'pending',
    payment_id text,
    payment_failure text,
    authorised_minor bigint NOT NULL DEFAULT 0,
    captured_minor bigint NOT NULL DEFAULT 0,
    refunded_minor bigint NOT NULL DEFAULT 0,
    cancellation_reason text,
    rejected_product_ids jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (customer_id, order_id)
) PARTITION BY HASH (customer_id);
CREATE INDEX IF NOT EXISTS orders_newest ON orders (customer_id, placed_at DESC, order_id DESC);
CREATE TABLE IF NOT EXISTS seller_order_lines (
    customer_id uuid NOT NULL,
    order_id uuid NOT NULL,
    line_no smallint NOT NULL,
    seller_id uuid NOT NULL,
    product_id uuid NOT NULL,
    title text NOT NULL,
    quantity integer NOT NULL,
    unit_price_minor bigint NOT NULL,
    currency text NOT NULL,
    placed_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    order_version integer NOT NULL,
    order_status text NOT NULL,
    shipped_at timestamptz,
    delivered_at timestamptz,
    fulfilment_version integer NOT NULL DEFAULT -1,
    label_blob_key text,
    label_content_type text,
    PRIMARY KEY (customer_id, order_id, line_no)
) PARTITION BY HASH (customer_id);
CREATE INDEX IF NOT EXISTS seller_order_lines_newest
    ON seller_order_lines (seller_id, placed_at DESC, order_id DESC);
CREATE TABLE IF NOT EXISTS order_customers (
    order_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS order_fulfilments (
    fulfilment_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    order_id uuid NOT NULL,
    seller_id uuid NOT NULL
);
"""


def partitions(table: str, count: int = PARTITIONS) -> str:
    """The statements creating a hash-partitioned table's partitions, `<table>_p<n>`."""
    return "\n".join(
        f"CREATE TABLE IF NOT EXISTS {table}_p{n} PARTITION OF {table} "
        f"FOR VALUES WITH (MODULUS {count}, REMAINDER {n});"
        for n in range(count)
    )


SCHEMA = TABLES + partitions("orders") + partitions("seller_order_lines")

CUSTOMER = sql.SQL("(SELECT customer_id FROM order_customers WHERE order_id = %(order)s)")
"""The customer of the order named by the %(order)s parameter (its rows' partition key)."""

PLACE = """
WITH route AS (
    INSERT INTO order_customers (order_id, customer_id) VALUES (%(order)s, %(customer)s)
    ON CONFLICT DO NOTHING
), placed AS (
    INSERT INTO orders (customer_id, order_id, version, status, currency, total_minor, lines,
        ship_to, seller_ids, placed_at, updated_at, expires_at)
    VALUES (%(customer)s, %(order)s, 0, 'placed', %(currency)s, %(total)s, %(lines)s,
        %(ship_to)s, %(sellers)s, %(at)s, %(at)s, %(expires_at)s)
    ON CONFLICT DO NOTHING
)
INSERT INTO seller_order_lines (customer_id, order_id, line_no, seller_id, product_id, title,
    quantity, unit_price_minor, currency, placed_at, updated_at, order_version, order_status)
SELECT %(customer)s, %(order)s, l.line_no, l.seller_id, l.product_id, l.title, l.quantity,
    l.unit_price_minor, %(currency)s, %(at)s, %(at)s, 0, 'placed'
FROM jsonb_to_recordset(%(lines)s) AS l(line_no smallint, seller_id uuid, product_id uuid,
    title text, quantity integer, unit_price_minor bigint)
ON CONFLICT DO NOTHING
"""

SYNC_LINES = """
UPDATE seller_order_lines AS l
SET order_status = c.status, order_version = c.version, updated_at = c.updated_at{extra}
FROM changed AS c
WHERE l.customer_id = c.customer_id AND l.order_id = c.order_id
"""

FIELDS = frozenset(
    {
        "status",
        "payment_state",
        "payment_id",
        "payment_failure",
        "authorised_minor",
        "confirmed_at",
        "cancellation_reason",
        "rejected_product_ids",
    }
)


class PostgresOrderHistoryUnit(PostgresUnit):
    """One batch's order-history writes, in the batch's transaction."""

    def place_order(self, order: PlacedOrder) -> None:
        """Insert the order, its route and its lines (nothing if they exist)."""
        lines = [
            {
                "line_no": line.line_no,
                "seller_id": str(line.seller_id),
                "product_id": str(line.product_id),
                "title": line.title,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in order.lines
        ]
        sellers = list(dict.fromkeys(line.seller_id for line in order.lines))
        self.cursor.execute(
            PLACE,
            {
                "order": order.order_id,
                "customer": order.customer_id,
                "currency": order.currency,
                "total": order.total_minor,
                "lines": Jsonb(lines),
                "ship_to": Jsonb(order.ship_to),
                "sellers": sellers,
                "at": order.placed_at,
                "expires_at": order.expires_at,
            },
        )

    def change_order(self, order_id: UUID, version: int, at: datetime, **fields: Any) -> None:
        """Set some of an order's fields; a new status is copied to its lines."""
        unknown = set(fields) - FIELDS
        if unknown:
            raise ValueError(f"not an order field: {sorted(unknown)}")
        params = {
            f"f_{name}": Jsonb(value) if isinstance(value, list | dict) else value
            for name, value in fields.items()
        }
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(f"f_{name}"))
            for name in fields
        )
        self._change(order_id, version, at, assignments, params, lines="status" in fields)

    def ship_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the shipped ones; shipped once every seller has shipped."""
        assignments = sql.SQL(
            "shipped_sellers = array_append(shipped_sellers, %(seller)s), "
            "status = CASE WHEN cardinality(shipped_sellers) + 1 >= cardinality(seller_ids) "
            "THEN 'shipped' ELSE 'partially_shipped' END"
        )
        extra = (
            ", shipped_at = CASE WHEN l.seller_id = %(seller)s THEN %(at)s ELSE l.shipped_at END"
        )
        self._change(order_id, version, at, assignments, {"seller": seller_id}, True, extra)

    def deliver_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Add the seller to the delivered ones; delivered once every seller's part is."""
        assignments = sql.SQL(
            "delivered_sellers = array_append(delivered_sellers, %(seller)s), "
            "status = CASE WHEN cardinality(delivered_sellers) + 1 >= cardinality(seller_ids) "
            "THEN 'delivered' ELSE status END"
        )
        extra = (
            ", delivered_at = "
            "CASE WHEN l.seller_id = %(seller)s THEN %(at)s ELSE l.delivered_at END"
        )
        self._change(order_id, version, at, assignments, {"seller": seller_id}, True, extra)

    def capture_payment(
        self, order_id: UUID, amount_minor: int, version: int, at: datetime
    ) -> None:
        """Add a captured amount."""
        assignments = sql.SQL(
            "captured_minor = captured_minor + %(amount)s, payment_state = 'captured'"
        )
        self._change(order_id, version, at, assignments, {"amount": amount_minor})

    def refund_payment(self, order_id: UUID, amount_minor: int, version: int, at: datetime) -> None:
        """Add a refunded amount; refunded once it reaches what was captured."""
        assignments = sql.SQL(
            "refunded_minor = refunded_minor + %(amount)s, "
            "payment_state = CASE WHEN refunded_minor + %(amount)s >= captured_minor "
            "THEN 'refunded' ELSE 'partially_refunded' END"
        )
        self._change(order_id, version, at, assignments, {"amount": amount_minor})

    def open_fulfilment(
        self, fulfilment_id: UUID, order_id: UUID, seller_id: UUID, customer_id: UUID
    ) -> None:
        """Remember the fulfilment's order, seller and customer."""
        self.cursor.execute(
            "INSERT INTO order_fulfilments (fulfilment_id, customer_id, order_id, seller_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (fulfilment_id, customer_id, order_id, seller_id),
        )

    def attach_label(
        self, fulfilment_id: UUID, blob_key: str, content_type: str, version: int
    ) -> None:
        """Set the label on every line of the fulfilment's seller in its order."""
        self.cursor.execute(
            "UPDATE seller_order_lines AS l SET label_blob_key = %(key)s, "
            "label_content_type = %(type)s, fulfilment_version = %(version)s "
            "FROM order_fulfilments AS f WHERE f.fulfilment_id = %(fulfilment)s "
            "AND l.customer_id = f.customer_id AND l.order_id = f.order_id "
            "AND l.seller_id = f.seller_id AND l.fulfilment_version < %(version)s",
            {
                "key": blob_key,
                "type": content_type,
                "version": version,
                "fulfilment": fulfilment_id,
            },
        )

    def _change(
        self,
        order_id: UUID,
        version: int,
        at: datetime,
        assignments: sql.Composable,
        params: dict[str, Any],
        lines: bool = False,
        extra: str = "",
    ) -> None:
        update = sql.SQL(
            "UPDATE orders SET {}, version = %(version)s, updated_at = %(at)s "
            "WHERE customer_id = {} AND order_id = %(order)s AND version < %(version)s"
        ).format(assignments, CUSTOMER)
        statement = update
        if lines:
            statement = sql.SQL(
                "WITH changed AS ({} RETURNING customer_id, order_id, status, version, updated_at)"
                " {}"
            ).format(update, sql.SQL(SYNC_LINES.format(extra=extra)))
        self.cursor.execute(statement, {**params, "order": order_id, "version": version, "at": at})
