"""Audited access: every audit read is a structured log line and a row in PostgreSQL, so
anyone entitled can ask who read what (who looked at one customer's data, and when)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

TABLE = "audit_access"
log = structlog.get_logger()


@dataclass(frozen=True)
class Access:
    """One audit read: who (reader, role), what (action and the subject it named, such as a
    stream id, a log or a correlation id), with which query, in which request."""

    reader: UUID
    role: str
    action: str
    subject: str
    query: dict[str, Any]
    request_id: str | None


class PostgresAccessLog:
    """The durable record of audit reads: one row per read, in its own table."""

    def __init__(self, pool: ConnectionPool, schema: str = "public") -> None:
        self.pool = pool
        self._table = Identifier(schema, TABLE)

    def create_table(self) -> None:
        """Create the table and its indexes if they are missing."""
        with self.pool.connection() as conn:
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
                    "at timestamptz NOT NULL DEFAULT now(), reader uuid NOT NULL, "
                    "role text NOT NULL, action text NOT NULL, subject text NOT NULL, "
                    "query jsonb NOT NULL, request_id text)"
                ).format(self._table)
            )
            for column in ("subject", "reader"):
                conn.execute(
                    SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, id)").format(
                        Identifier(f"{TABLE}_{column}"), self._table, Identifier(column)
                    )
                )

    def record(self, access: Access) -> None:
        """Log the read and keep it (before the answer is sent: a read that cannot be
        recorded is not served)."""
        log.info(
            "audit_read",
            reader=str(access.reader),
            role=access.role,
            action=access.action,
            subject=access.subject,
            query=access.query,
        )
        with self.pool.connection() as conn:
            conn.execute(
                SQL(
                    "INSERT INTO {} (reader, role, action, subject, query, request_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s)"
                ).format(self._table),
                (
                    access.reader,
                    access.role,
                    access.action,
                    access.subject,
                    Jsonb(access.query),
                    access.request_id,
                ),
            )

    def reads(
        self, *, subject: str | None, reader: UUID | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to limit recorded reads after the id given, oldest first, of one subject or
        by one reader (or all)."""
        where = [SQL("id > %(after)s")]
        if subject is not None:
            where.append(SQL("subject = %(subject)s"))
        if reader is not None:
            where.append(SQL("reader = %(reader)s"))
        statement = SQL(
            "SELECT id, at, reader, role, action, subject, query, request_id FROM {} "
            "WHERE {} ORDER BY id LIMIT %(limit)s"
        ).format(self._table, SQL(" AND ").join(where))
        params = {"after": after, "subject": subject, "reader": reader, "limit": limit}
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(statement, params).fetchall())
