"""Which orders each customer placed, written by the command side at checkout.

The command API notes an order here before it appends the order (its id is known first),
so every placed order is listed (and perhaps one whose append failed, which the caller finds
missing from the event store). Erasure reads it to refuse while an order is unshipped.
"""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import ConnectionPool

from infra.postgres_pool import STARTUP_TIMEOUT_SECONDS, without_call_timeout
from infra.schema_lock import lock_schema_in_transaction

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS customer_orders (
    customer_id uuid NOT NULL,
    order_id uuid NOT NULL,
    PRIMARY KEY (customer_id, order_id)
)
"""


class PostgresCustomerOrders:
    """The customer_orders table, on the command API's bounded pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def create_table(self) -> None:
        """Create the table if it does not exist (at startup, with no call timeout)."""
        waiting = self._pool.connection(timeout=STARTUP_TIMEOUT_SECONDS)
        with without_call_timeout(), waiting as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            conn.execute(SCHEMA_SQL)

    def add(self, customer_id: UUID, order_id: UUID) -> None:
        """Note the customer's order; noting it again changes nothing."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO customer_orders (customer_id, order_id) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (customer_id, order_id),
            )

    def orders_of(self, customer_id: UUID) -> list[UUID]:
        """Every order noted for the customer."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT order_id FROM customer_orders WHERE customer_id = %s ORDER BY order_id",
                (customer_id,),
            ).fetchall()
        return [row[0] for row in rows]
