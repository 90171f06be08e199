"""The order-history tables: orders and seller lines hash-partitioned by customer, and lookups.

`orders` holds one row per order and `seller_order_lines` one row per order line; both are
hash-partitioned by customer id. Events other than Placed carry no customer id, so
`order_customers` maps an order to its customer and `order_fulfilments` a fulfilment to its
order and seller.
"""

from __future__ import annotations

PARTITIONS = 8
"""Hash partitions of each customer-keyed table (fixed once the tables exist)."""
FILLFACTOR = 50
"""How full an insert leaves a partition's pages. An order's row and its lines change several
times after they are placed, never in an indexed column: the room left lets each new row
version go on its page as a heap-only tuple, with no index entry to add (which, on full
pages, costs about as much as the update itself)."""

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


def partitions(table: str, count: int = PARTITIONS, fillfactor: int = FILLFACTOR) -> str:
    """The statements creating a hash-partitioned table's partitions, `<table>_p<n>`."""
    return "\n".join(
        f"CREATE TABLE IF NOT EXISTS {table}_p{n} PARTITION OF {table} "
        f"FOR VALUES WITH (MODULUS {count}, REMAINDER {n}) WITH (fillfactor = {fillfactor});"
        for n in range(count)
    )


SCHEMA = TABLES + partitions("orders") + partitions("seller_order_lines")
