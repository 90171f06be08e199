"""Where a PostgreSQL log finds a flow's events: a table beside the events table, one row per
event that carries a correlation id, so a trace reads only its own events, never a whole log.

`<events table>_correlation` holds each such event's correlation id, time and position,
indexed in trace order (correlation id, time, position). Rows are written by the append
itself (a data-modifying CTE of the recorder's insert, so in its transaction, group commits
and stream batches included), and by the backfill once, when the table is created.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

ROWS = SQL(
    "SELECT found.correlation_id, found.at, found.notification_id FROM ("
    "SELECT document #>> '{{meta,correlation_id}}' AS correlation_id, "
    "(document #>> '{{timestamp,_data_}}')::timestamptz AS at, notification_id FROM ("
    "SELECT convert_from(state, 'UTF8')::jsonb AS document, notification_id FROM {source}"
    ") AS decoded) AS found WHERE found.correlation_id <> '' AND found.at IS NOT NULL"
)
"""(correlation id, time, position) of each event of source (state, notification_id) that
carries a correlation id."""


class CorrelationTable:
    """The correlation table of one events table, and the statements that use it."""

    def __init__(self, schema: str, events_table: str) -> None:
        self.schema, self.events_table = schema, events_table
        self.name = f"{events_table}_correlation"
        self.qualified = Identifier(schema, self.name)
        self.events = Identifier(schema, events_table)
        self.insert = SQL("INSERT INTO {} (correlation_id, at, notification_id)").format(
            self.qualified
        )

    def kept_by(self, inserted: str) -> Composed:
        """A data-modifying CTE that indexes the rows of the CTE named inserted (an events
        insert RETURNING notification_id and state)."""
        return SQL("correlated AS ({insert} {rows})").format(
            insert=self.insert, rows=ROWS.format(source=Identifier(inserted))
        )

    def exists(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether the correlation table is there."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SELECT to_regclass(%s)", (f'"{self.schema}"."{self.name}"',))
            row = curs.fetchone()
        return row is not None and row[0] is not None

    def create_and_backfill(self, conn: psycopg.Connection[Any]) -> int:
        """Create the table and index the events already in the log, once (a no-op when the
        table exists); appends wait meanwhile (the events table is locked). The number of
        events indexed."""
        with conn.transaction():
            if self.exists(conn):
                return 0
            conn.execute(
                SQL(
                    "CREATE TABLE {} (correlation_id text NOT NULL, at timestamptz NOT NULL, "
                    "notification_id bigint NOT NULL, "
                    "PRIMARY KEY (correlation_id, at, notification_id))"
                ).format(self.qualified)
            )
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.events))
            backfill = SQL("{insert} {rows}").format(
                insert=self.insert, rows=ROWS.format(source=self.events)
            )
            return conn.execute(backfill).rowcount
