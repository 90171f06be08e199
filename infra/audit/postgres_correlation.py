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
from psycopg.sql import SQL, Composed, Identifier

from infra.audit.side_table import SideTable

ROWS = SQL(
    "SELECT found.correlation_id, found.at, found.notification_id FROM ("
    "SELECT document #>> '{{meta,correlation_id}}' AS correlation_id, "
    "(document #>> '{{timestamp,_data_}}')::timestamptz AS at, notification_id FROM ("
    "SELECT convert_from(state, 'UTF8')::jsonb AS document, notification_id FROM {source}"
    ") AS decoded) AS found WHERE found.correlation_id <> '' AND found.at IS NOT NULL"
)
"""(correlation id, time, position) of each event of source (state, notification_id) that
carries a correlation id."""


class CorrelationTable(SideTable):
    """The correlation table of one events table, and the statements that use it."""

    suffix = "correlation"

    def __init__(self, schema: str, events_table: str) -> None:
        super().__init__(schema, events_table)
        self.insert = SQL("INSERT INTO {} (correlation_id, at, notification_id)").format(
            self.qualified
        )

    def kept_by(self, inserted: str) -> Composed:
        """A data-modifying CTE that indexes the rows of the CTE named inserted (an events
        insert RETURNING notification_id and state)."""
        return SQL("correlated AS ({insert} {rows})").format(
            insert=self.insert, rows=ROWS.format(source=Identifier(inserted))
        )

    def create_and_backfill(self, conn: psycopg.Connection[Any]) -> int:
        """Create the table and index the events already in the log, once (SideTable)."""
        create = SQL(
            "CREATE TABLE {} (correlation_id text NOT NULL, at timestamptz NOT NULL, "
            "notification_id bigint NOT NULL, PRIMARY KEY (correlation_id, at, notification_id))"
        ).format(self.qualified)
        backfill = SQL("{insert} {rows}").format(
            insert=self.insert, rows=ROWS.format(source=self.events)
        )
        return self.create_once(conn, create, lambda c: c.execute(backfill).rowcount)
