"""A table beside a PostgreSQL log's events table, created and filled from the log once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier


class SideTable:
    """`<events table>_<suffix>` in the events table's schema (the suffix names the kind)."""

    suffix: ClassVar[str]

    def __init__(self, schema: str, events_table: str) -> None:
        self.schema, self.events_table = schema, events_table
        self.name = f"{events_table}_{self.suffix}"
        self.qualified = Identifier(schema, self.name)
        self.events = Identifier(schema, events_table)

    def exists(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether the table is there."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SELECT to_regclass(%s)", (f'"{self.schema}"."{self.name}"',))
            row = curs.fetchone()
        return row is not None and row[0] is not None

    def create_once(
        self,
        conn: psycopg.Connection[Any],
        create: SQL | Composed,
        backfill: Callable[[psycopg.Connection[Any]], int],
    ) -> int:
        """Create the table and backfill it from the events already in the log, in one
        transaction with the events table locked (appends wait): a no-op when the table
        exists. The number of events backfilled."""
        with conn.transaction():
            if self.exists(conn):
                return 0
            conn.execute(create)
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.events))
            return backfill(conn)
