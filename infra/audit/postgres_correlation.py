"""Where a PostgreSQL log finds a flow's events: a table beside the events table, one row per
event that carries a correlation id, so a trace reads only its own events, never a whole log.

`<events table>_correlation` holds each such event's correlation id, time and position,
indexed in trace order (correlation id, time, position). Rows are written by the append
itself (a data-modifying CTE of the recorder's insert, so in its transaction, group commits
and stream batches included), and by the backfill once, when the table is created. The
append takes each event's correlation id and time from the recorder (`keys`, read before the
append takes its lock), so the server decodes no event under the lock; the backfill reads
them from the stored documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
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

    def kept_by(self, numbered: str) -> Composed:
        """A data-modifying CTE that indexes the appended events, from the CTE named numbered
        (notification_id and n, each event's place in the append from 1) and its parameters,
        the events' correlation ids and times in the append's order (keys)."""
        return SQL(
            "correlated AS ({insert} SELECT k.correlation_id, k.at::timestamptz, "
            "x.notification_id FROM {numbered} x "
            "JOIN unnest(%s::text[], %s::text[]) WITH ORDINALITY AS k (correlation_id, at, n) "
            "ON k.n = x.n WHERE k.correlation_id <> '' AND k.at <> '')"
        ).format(insert=self.insert, numbered=Identifier(numbered))

    @staticmethod
    def keys(states: Sequence[bytes]) -> tuple[list[str], list[str]]:
        """kept_by's parameters: each stored document's correlation id and time ('' where it
        has none, or is no JSON document), as the backfill reads them (ROWS)."""
        ids, times = [], []
        for state in states:
            try:
                document = orjson.loads(state)
                correlation = document["meta"]["correlation_id"]
                at = document["timestamp"]["_data_"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                correlation, at = "", ""
            ok = isinstance(correlation, str) and isinstance(at, str)
            ids.append(correlation if ok else "")
            times.append(at if ok else "")
        return ids, times

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
