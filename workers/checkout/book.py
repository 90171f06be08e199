"""The checkout book in PostgreSQL: orders under way and the gateway calls due for them.

The process manager writes the book in the transaction that moves its position, so the
book is always what the log says up to that position. The payment and deadline workers
claim due rows with a lease (FOR UPDATE SKIP LOCKED), so several can run at once and a
worker that dies mid-call only delays its rows by the lease.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg_pool import ConnectionPool

from commands.checkout import PaymentJob
from domain.base import Cause
from domain.money import Money
from projections.stores.postgres.unit import PostgresUnit, PostgresView

TABLES = (
    """
    CREATE TABLE IF NOT EXISTS checkout_orders (
        order_id uuid PRIMARY KEY,
        total_minor bigint NOT NULL,
        currency text NOT NULL,
        expires_at timestamptz NOT NULL,
        awaiting boolean NOT NULL DEFAULT true,
        payment_id text,
        retry_at timestamptz
    )
    """,
    "ALTER TABLE checkout_orders ADD COLUMN IF NOT EXISTS causation_id text NOT NULL DEFAULT ''",
    "ALTER TABLE checkout_orders ADD COLUMN IF NOT EXISTS correlation_id text NOT NULL DEFAULT ''",
    "ALTER TABLE checkout_orders "
    "ADD COLUMN IF NOT EXISTS authorisation_queued boolean NOT NULL DEFAULT false",
    "CREATE INDEX IF NOT EXISTS checkout_orders_due ON checkout_orders (expires_at) WHERE awaiting",
    """
    CREATE TABLE IF NOT EXISTS checkout_payment_jobs (
        order_id uuid NOT NULL,
        kind text NOT NULL CHECK (kind IN ('authorise', 'capture', 'void', 'refund')),
        reference text NOT NULL DEFAULT '',
        amount_minor bigint NOT NULL,
        currency text NOT NULL,
        payment_id text,
        expires_at timestamptz,
        due_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        PRIMARY KEY (order_id, kind, reference)
    )
    """,
    "ALTER TABLE checkout_payment_jobs "
    "ADD COLUMN IF NOT EXISTS causation_id text NOT NULL DEFAULT ''",
    "ALTER TABLE checkout_payment_jobs "
    "ADD COLUMN IF NOT EXISTS correlation_id text NOT NULL DEFAULT ''",
    "CREATE INDEX IF NOT EXISTS checkout_payment_jobs_due ON checkout_payment_jobs (due_at)",
)


def due_payment(row: tuple[Any, ...]) -> PaymentJob:
    """A claimed gateway call from its row: the fields in order, then causation and correlation."""
    order_id, kind, amount_minor, currency, payment_id, attempts, reference, *cause = row
    return PaymentJob(
        order_id, kind, amount_minor, currency, payment_id, attempts, reference, Cause(*cause)
    )


@dataclass(frozen=True)
class DueExpiry:
    """An order claimed for expiry, and the event that set its deadline (its Placed event)."""

    order_id: UUID
    cause: Cause


def _ids(cause: Cause) -> tuple[str, str]:
    return cause.causation_id, cause.correlation_id


class CheckoutBookUnit(PostgresUnit):
    """One batch's book changes, in the transaction that moves the position."""

    def open_order(self, order_id: UUID, total: Money, expires_at: datetime, cause: Cause) -> None:
        """Start watching an order's payment deadline, set by the cause."""
        self.cursor.execute(
            "INSERT INTO checkout_orders (order_id, total_minor, currency, expires_at, "
            "causation_id, correlation_id) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (order_id, total.minor, total.currency, expires_at, *_ids(cause)),
        )

    def await_authorisation(self, order_id: UUID, cause: Cause) -> None:
        """Queue the authorisation of the order's total, once per order: asked again (its
        StockReserved event after the process manager queued it), nothing changes."""
        self.cursor.execute(
            "WITH queued AS (UPDATE checkout_orders SET authorisation_queued = true "
            "  WHERE order_id = %s AND awaiting AND NOT authorisation_queued "
            "  RETURNING order_id, total_minor, currency, expires_at) "
            "INSERT INTO checkout_payment_jobs (order_id, kind, amount_minor, currency, "
            "expires_at, due_at, causation_id, correlation_id) "
            "SELECT order_id, 'authorise', total_minor, currency, expires_at, now(), %s, %s "
            "FROM queued ON CONFLICT DO NOTHING",
            (order_id, *_ids(cause)),
        )

    def authorised(self, order_id: UUID, payment_id: str) -> None:
        """The authorisation arrived: stop asking for it, remember its payment id."""
        self._drop_job(order_id, "authorise")
        self.cursor.execute(
            "UPDATE checkout_orders SET payment_id = %s WHERE order_id = %s",
            (payment_id, order_id),
        )

    def confirmed(self, order_id: UUID) -> None:
        """The deadline no longer applies."""
        self.cursor.execute(
            "UPDATE checkout_orders SET awaiting = false WHERE order_id = %s", (order_id,)
        )

    def closed(self, order_id: UUID) -> None:
        """Stop everything for an order whose stock and payment are settled."""
        self.cursor.execute(
            "DELETE FROM checkout_payment_jobs WHERE order_id = %s "
            "AND kind IN ('authorise', 'void')",
            (order_id,),
        )
        self.cursor.execute("DELETE FROM checkout_orders WHERE order_id = %s", (order_id,))

    def abandoned(self, order_id: UUID, cause: Cause) -> None:
        """Cancelled or expired: stop the deadline and authorisation; void a held payment."""
        self._drop_job(order_id, "authorise")
        self.cursor.execute(
            "INSERT INTO checkout_payment_jobs (order_id, kind, amount_minor, currency, "
            "payment_id, due_at, causation_id, correlation_id) "
            "SELECT order_id, 'void', total_minor, currency, payment_id, now(), %s, %s "
            "FROM checkout_orders WHERE order_id = %s AND payment_id IS NOT NULL "
            "ON CONFLICT DO NOTHING",
            (*_ids(cause), order_id),
        )
        self.cursor.execute(
            "DELETE FROM checkout_orders WHERE order_id = %s AND payment_id IS NULL", (order_id,)
        )
        self.confirmed(order_id)

    def queue_capture(self, order_id: UUID, payment_id: str, amount: Money, cause: Cause) -> None:
        """Queue the capture of the order's payment; nothing else is due for the order."""
        self._queue_payment(order_id, "capture", "", payment_id, amount, cause)
        self.cursor.execute("DELETE FROM checkout_orders WHERE order_id = %s", (order_id,))

    def queue_refund(
        self, order_id: UUID, refund_id: str, payment_id: str, amount: Money, cause: Cause
    ) -> None:
        """Queue the refund of part of a captured payment."""
        self._queue_payment(order_id, "refund", refund_id, payment_id, amount, cause)

    def _queue_payment(
        self,
        order_id: UUID,
        kind: str,
        reference: str,
        payment_id: str,
        amount: Money,
        cause: Cause,
    ) -> None:
        self.cursor.execute(
            "INSERT INTO checkout_payment_jobs (order_id, kind, reference, amount_minor, "
            "currency, payment_id, due_at, causation_id, correlation_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, now(), %s, %s) ON CONFLICT DO NOTHING",
            (order_id, kind, reference, amount.minor, amount.currency, payment_id, *_ids(cause)),
        )

    def _drop_job(self, order_id: UUID, kind: str) -> None:
        self.cursor.execute(
            "DELETE FROM checkout_payment_jobs WHERE order_id = %s AND kind = %s",
            (order_id, kind),
        )


class PostgresCheckoutBook(PostgresView):
    """The checkout book's tables, its position, and the claims the workers make on it."""

    def __init__(self, pool: ConnectionPool, name: str = "checkout") -> None:
        super().__init__(pool, name)

    create_statements = TABLES

    @contextmanager
    def unit_of_work(self) -> Iterator[CheckoutBookUnit]:
        """A unit whose book changes and position commit together."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield CheckoutBookUnit(self.name, cursor)

    def claim_payments(self, now: datetime, limit: int, lease: timedelta) -> list[PaymentJob]:
        """Claim up to limit due gateway calls for lease; an authorisation only before its
        deadline. The due rows are chosen once (a materialised CTE): a subquery in FROM may
        be scanned again and claim more than limit."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "WITH due AS MATERIALIZED (SELECT order_id, kind, reference "
                "      FROM checkout_payment_jobs WHERE due_at <= %(now)s "
                "      AND (kind <> 'authorise' OR expires_at > %(now)s) "
                "      ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE checkout_payment_jobs j SET due_at = %(until)s, attempts = attempts + 1 "
                "FROM due "
                "WHERE j.order_id = due.order_id AND j.kind = due.kind "
                "AND j.reference = due.reference "
                "RETURNING j.order_id, j.kind, j.amount_minor, j.currency, j.payment_id, "
                "j.attempts, j.reference, j.causation_id, j.correlation_id",
                {"now": now, "until": now + lease, "limit": limit},
            ).fetchall()
        return [due_payment(row) for row in rows]

    def payment_done(self, job: PaymentJob, void_payment_id: str | None) -> None:
        """Drop a finished call; queue the void of an authorisation that came too late
        (caused by what caused the authorisation)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM checkout_payment_jobs "
                "WHERE order_id = %s AND kind = %s AND reference = %s",
                (job.order_id, job.kind, job.reference),
            )
            if void_payment_id is not None:
                conn.execute(
                    "INSERT INTO checkout_payment_jobs (order_id, kind, amount_minor, currency, "
                    "payment_id, due_at, causation_id, correlation_id) "
                    "VALUES (%s, 'void', %s, %s, %s, now(), %s, %s) ON CONFLICT DO NOTHING",
                    (
                        job.order_id,
                        job.amount_minor,
                        job.currency,
                        void_payment_id,
                        *_ids(job.cause),
                    ),
                )

    def payment_later(self, job: PaymentJob, at: datetime) -> None:
        """Try a call again at the given time."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE checkout_payment_jobs SET due_at = %s "
                "WHERE order_id = %s AND kind = %s AND reference = %s",
                (at, job.order_id, job.kind, job.reference),
            )

    def claim_expired(self, now: datetime, limit: int, retry: timedelta) -> list[DueExpiry]:
        """Claim up to limit orders whose deadline has passed, not again before now + retry."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "UPDATE checkout_orders o SET retry_at = %(again)s "
                "FROM (SELECT order_id FROM checkout_orders "
                "      WHERE awaiting AND expires_at <= %(now)s "
                "      AND (retry_at IS NULL OR retry_at <= %(now)s) "
                "      ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due "
                "WHERE o.order_id = due.order_id "
                "RETURNING o.order_id, o.causation_id, o.correlation_id",
                {"now": now, "again": now + retry, "limit": limit},
            ).fetchall()
        return [DueExpiry(row[0], Cause(row[1], row[2])) for row in rows]

    def pending(self) -> dict[str, int]:
        """How many orders await their deadline and how many gateway calls are queued, by kind."""
        with self.pool.connection() as conn:
            awaiting = conn.execute(
                "SELECT count(*) FROM checkout_orders WHERE awaiting"
            ).fetchone()
            jobs = conn.execute(
                "SELECT kind, count(*) FROM checkout_payment_jobs GROUP BY kind"
            ).fetchall()
        return {"awaiting": int(awaiting[0]) if awaiting else 0, **{k: int(n) for k, n in jobs}}
