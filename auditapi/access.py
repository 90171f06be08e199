"""Audited access: every audit read is a structured log line and a row in PostgreSQL, so
anyone entitled can ask who read what (who looked at one customer's data, and when)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

TABLE = "audit_access"
SUBJECTS = "audit_access_subjects"
"""Whose data each read showed: one row per (subject, read)."""
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
    subjects: frozenset[str] = frozenset()
    """Whose data the answer showed (auditapi.owners): customer ids."""


class PostgresAccessLog:
    """The durable record of audit reads: one row per read, in its own table."""

    def __init__(self, pool: ConnectionPool, schema: str = "public") -> None:
        self.pool = pool
        self._table = Identifier(schema, TABLE)
        self._subjects = Identifier(schema, SUBJECTS)

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
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (subject text NOT NULL, "
                    "access_id bigint NOT NULL REFERENCES {} (id), "
                    "PRIMARY KEY (subject, access_id))"
                ).format(self._subjects, self._table)
            )
            for column in ("subject", "reader"):
                conn.execute(
                    SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({}, id)").format(
                        Identifier(f"{TABLE}_{column}"), self._table, Identifier(column)
                    )
                )

    def record(self, access: Access) -> int:
        """Log the read and keep it, with its subjects (before the answer is sent: a read
        that cannot be recorded is not served); its id."""
        log.info(
            "audit_read",
            reader=str(access.reader),
            role=access.role,
            action=access.action,
            subject=access.subject,
            query=access.query,
        )
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL(
                    "INSERT INTO {} (reader, role, action, subject, query, request_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
                ).format(self._table),
                (
                    access.reader,
                    access.role,
                    access.action,
                    access.subject,
                    Jsonb(access.query),
                    access.request_id,
                ),
            ).fetchone()
            assert row is not None
            access_id = int(row[0])
            self._add(conn, access_id, access.subjects)
        return access_id

    def add_subjects(self, access_id: int, subjects: Iterable[str]) -> None:
        """Record whose data the read access_id showed (as its answer is made, before it is
        sent: an export adds each page's)."""
        with self.pool.connection() as conn:
            self._add(conn, access_id, subjects)

    def _add(self, conn: psycopg.Connection[Any], access_id: int, subjects: Iterable[str]) -> None:
        wanted = sorted(set(subjects))
        if wanted:
            conn.execute(
                SQL(
                    "INSERT INTO {} (subject, access_id) SELECT unnest(%s::text[]), %s "
                    "ON CONFLICT DO NOTHING"
                ).format(self._subjects),
                (wanted, access_id),
            )

    def reads(
        self, *, subject: str | None, reader: UUID | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        """Up to limit recorded reads after the id given, oldest first, of one subject (named
        by the read, or whose data it showed) or by one reader (or all)."""
        where: list[Composable] = [SQL("id > %(after)s")]
        if subject is not None:
            where.append(
                SQL(
                    "(subject = %(subject)s OR id IN "
                    "(SELECT access_id FROM {} WHERE subject = %(subject)s))"
                ).format(self._subjects)
            )
        if reader is not None:
            where.append(SQL("reader = %(reader)s"))
        statement = SQL(
            "SELECT id, at, reader, role, action, subject, query, request_id, "
            "ARRAY(SELECT s.subject FROM {} s WHERE s.access_id = a.id ORDER BY s.subject) "
            "AS subjects FROM {} a WHERE {} ORDER BY id LIMIT %(limit)s"
        ).format(self._subjects, self._table, SQL(" AND ").join(where))
        params = {"after": after, "subject": subject, "reader": reader, "limit": limit}
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            return list(cursor.execute(statement, params).fetchall())
