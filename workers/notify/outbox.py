"""The notifications view in PostgreSQL: a mail directory, orders, and the mail outbox.

The projection writes directory entries, orders and outbox rows in the same transaction as
its position (a transactional outbox): a mail is in the outbox if and only if the event that
causes it is projected, and the row's primary key (a uuid5 of the causing event and the
recipient) makes a repeat insert do nothing.

The sender claims one due, unsent row at a time with FOR UPDATE SKIP LOCKED, so several
senders never take the same row; it sets sent_at in that row's transaction. A row whose
recipient is not (yet) in the directory is not due: it waits for the directory's event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from domain.base import Cause
from domain.personal import ADDRESS_LINES, ERASED
from projections.stores.postgres.unit import PostgresUnit, PostgresView
from workers.notify.mails import CUSTOMER, Letter, LineForMail, OrderForMail, OutboxMail

TABLES = """
CREATE TABLE IF NOT EXISTS mail_directory (
    kind text NOT NULL,
    id uuid NOT NULL,
    version integer NOT NULL,
    email text NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS mail_orders (
    order_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    ship_to jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_outbox (
    message_id uuid PRIMARY KEY,
    recipient_kind text NOT NULL,
    recipient_id uuid NOT NULL,
    subject text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    sent_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);
CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS causation_id text NOT NULL DEFAULT '';
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS correlation_id text NOT NULL DEFAULT '';
"""

CLAIM_SQL = """
SELECT o.message_id, d.email, d.name, o.subject, o.body, o.attempts, o.causation_id,
       o.correlation_id
FROM mail_outbox o
JOIN mail_directory d ON d.kind = o.recipient_kind AND d.id = o.recipient_id
WHERE o.sent_at IS NULL AND o.next_attempt_at <= now()
ORDER BY o.next_attempt_at
LIMIT 1
FOR UPDATE OF o SKIP LOCKED
"""


FORGET_CUSTOMER = """
WITH orders AS (SELECT order_id, ship_to FROM mail_orders WHERE customer_id = %(customer)s),
unsent AS (
    DELETE FROM mail_outbox
    WHERE recipient_kind = %(kind)s AND recipient_id = %(customer)s
)
SELECT order_id::text, ship_to FROM orders
"""
REDACT_MAILS = """
UPDATE mail_outbox SET body = replace(body, %(value)s, %(erased)s),
    subject = replace(subject, %(value)s, %(erased)s)
WHERE strpos(body, %(order)s) > 0 AND strpos(body, %(value)s) > 0
"""
"""The value in place of the erased one, in mails about the order (a seller's new order)."""


class PostgresNotificationUnit(PostgresUnit):
    """One batch's directory, order and outbox writes, in the batch's transaction."""

    def remember_recipient(
        self, kind: str, recipient_id: UUID, email: str, name: str, version: int
    ) -> None:
        """Insert or update a directory entry, unless a newer version is there."""
        self.cursor.execute(
            "INSERT INTO mail_directory AS d (kind, id, version, email, name) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, id) DO UPDATE "
            "SET email = excluded.email, name = excluded.name, version = excluded.version "
            "WHERE d.version < excluded.version",
            (kind, recipient_id, version, email, name),
        )

    def remember_order(self, order: OrderForMail) -> None:
        """Insert the order once."""
        lines = [
            {
                "seller_id": str(line.seller_id),
                "title": line.title,
                "quantity": line.quantity,
                "unit_minor": line.unit_minor,
            }
            for line in order.lines
        ]
        self.cursor.execute(
            "INSERT INTO mail_orders (order_id, customer_id, currency, lines, ship_to) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (order_id) DO NOTHING",
            (order.order_id, order.customer_id, order.currency, Jsonb(lines), Jsonb(order.ship_to)),
        )

    def order(self, order_id: UUID) -> OrderForMail | None:
        """The remembered order, as this transaction sees it."""
        row = self.cursor.execute(
            "SELECT customer_id, currency, lines, ship_to FROM mail_orders WHERE order_id = %s",
            (order_id,),
        ).fetchone()
        if row is None:
            return None
        customer_id, currency, lines, ship_to = row
        return OrderForMail(
            order_id=order_id,
            customer_id=UUID(str(customer_id)),
            currency=str(currency),
            lines=tuple(
                LineForMail(UUID(x["seller_id"]), x["title"], x["quantity"], x["unit_minor"])
                for x in lines  # type: ignore[attr-defined]
            ),
            ship_to=dict(ship_to),  # type: ignore[call-overload]
        )

    def forget_customer(self, customer_id: UUID) -> None:
        """Delete the customer's directory entry and their mails; redact the mails about their
        orders sent to others (each personal value of the order's address), and those orders."""
        found = self.cursor.execute(
            FORGET_CUSTOMER, {"customer": customer_id, "kind": CUSTOMER}
        ).fetchall()
        for order_id, ship_to in found:
            for line in ADDRESS_LINES:
                value = ship_to.get(line)  # type: ignore[attr-defined]
                if value and value != ERASED:
                    params = {"value": value, "erased": ERASED, "order": order_id}
                    self.cursor.execute(REDACT_MAILS, params)
        self.cursor.execute(
            "UPDATE mail_orders SET ship_to = ship_to || %s WHERE customer_id = %s",
            (Jsonb(dict.fromkeys(ADDRESS_LINES, ERASED)), customer_id),
        )
        self.cursor.execute(
            "DELETE FROM mail_directory WHERE kind = %s AND id = %s", (CUSTOMER, customer_id)
        )

    def enqueue(self, mail: OutboxMail) -> None:
        """Insert the mail unless its id is in the outbox already."""
        self.cursor.execute(
            "INSERT INTO mail_outbox (message_id, recipient_kind, recipient_id, subject, body, "
            "created_at, causation_id, correlation_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (message_id) DO NOTHING",
            (
                mail.message_id,
                mail.recipient_kind,
                mail.recipient_id,
                mail.subject,
                mail.body,
                mail.created_at,
                mail.cause.causation_id,
                mail.cause.correlation_id,
            ),
        )


class PostgresNotificationView(PostgresView):
    """The notifications projection's tables, tracked as "notifications" in projection_positions."""

    def __init__(self, pool: ConnectionPool, name: str = "notifications") -> None:
        super().__init__(pool, name)

    create_statements = (TABLES,)

    def unit_of_work(self) -> AbstractContextManager[PostgresNotificationUnit]:
        """A unit whose writes and position commit in one transaction."""
        return self.batch(PostgresNotificationUnit)


@dataclass(frozen=True)
class DueMail:
    """An unsent mail with its recipient's current address, and the event that caused it."""

    message_id: UUID
    to_address: str
    to_name: str
    subject: str
    body: str
    attempts: int
    cause: Cause


@dataclass(frozen=True)
class OutboxRow(Letter):
    """One outbox row as stored (for inspection and tests): the letter, and how sending went."""

    sent_at: datetime | None
    attempts: int
    last_error: str | None


class ClaimedMail:
    """A due mail locked by this sender until its transaction ends."""

    def __init__(self, mail: DueMail, cursor: psycopg.Cursor[Any]) -> None:
        self.mail = mail
        self._cursor = cursor

    def mark_sent(self) -> None:
        """Record that the server accepted the mail (committed when the claim ends)."""
        self._cursor.execute(
            "UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL "
            "WHERE message_id = %s",
            (self.mail.message_id,),
        )

    def retry_in(self, seconds: float, error: str) -> None:
        """Record a failed attempt; the mail is due again after seconds."""
        self._cursor.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = %s, "
            "next_attempt_at = now() + make_interval(secs => %s) WHERE message_id = %s",
            (error[:1000], seconds, self.mail.message_id),
        )


class MailOutbox:
    """The sender's side of the outbox: claim due mails one at a time, mark them sent."""

    transient_errors: tuple[type[BaseException], ...] = PostgresView.transient_errors

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    @contextmanager
    def claim(self) -> Iterator[ClaimedMail | None]:
        """The oldest due mail nobody else holds, or None; its changes commit on exit."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            row = cursor.execute(CLAIM_SQL).fetchone()
            if row is None:
                yield None
                return
            message_id, email, name, subject, body, attempts, *cause = row
            due = DueMail(
                UUID(str(message_id)), email, name, subject, body, int(attempts), Cause(*cause)
            )
            yield ClaimedMail(due, cursor)

    def rows(self) -> list[OutboxRow]:
        """Every outbox row, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT message_id, recipient_kind, recipient_id, subject, body, created_at, "
                "sent_at, attempts, last_error FROM mail_outbox ORDER BY created_at, message_id"
            ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def unsent(self) -> int:
        """How many mails are not sent yet (due or waiting)."""
        with self.pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL").fetchone()
        return int(row[0]) if row else 0
