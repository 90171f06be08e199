"""The replay's side store: one DuckDB file holding a projection's tables and its checkpoint.

It is a view for projections.runtime.Worker: each batch's writes and the logs' positions
commit in one DuckDB transaction, so the file always holds the state at a batch boundary
and a later replay continues from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from analytics.bulk import BulkWrites, Schema
from analytics.projection import AnalyticProjection
from analytics.until import Until

CHECKPOINT = """
CREATE TABLE IF NOT EXISTS _replay_positions (log VARCHAR PRIMARY KEY, position BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS _replay_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


class CheckpointMismatch(Exception):
    """The store holds the replay of another projection (or with another key)."""


class ReplayUnit:
    """One batch's writes (AnalyticUnit), written in bulk (analytics.bulk) when it flushes."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, schema: Schema) -> None:
        self.conn = conn
        self.writes = BulkWrites(conn, schema)

    def insert(self, table: str, **row: Any) -> None:
        """Add a row; nothing if a row with its primary key is there."""
        self.writes.insert(table, row)

    def update(self, table: str, key: dict[str, Any], **values: Any) -> None:
        """Set these columns of the rows matching key."""
        self.writes.update(table, key, values)

    def increment(self, table: str, key: dict[str, Any], **amounts: Any) -> None:
        """Add amounts to these columns of the row with this primary key (made at zero)."""
        self.writes.increment(table, key, amounts)

    def select(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """The rows a query over the tables returns now (the writes so far run first)."""
        self.writes.flush()
        return self.conn.execute(query, list(params)).fetchall()

    def track(self, log: str, after: int, position: int) -> None:
        """Record the log's new position (the worker is this store's only writer)."""
        self.writes.flush()
        self.conn.execute(
            "INSERT INTO _replay_positions VALUES (?, ?) "
            "ON CONFLICT (log) DO UPDATE SET position = excluded.position",
            [log, position],
        )


class ReplayStore:
    """A DuckDB file with a projection's tables, its outputs as views, and its checkpoint."""

    transient_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, path: Path, projection: AnalyticProjection) -> None:
        self.path = path
        self.projection = projection
        self.conn = duckdb.connect(str(path))
        self.conn.execute(CHECKPOINT)
        self._schema: Schema | None = None

    def prepare(self) -> None:
        """Create the tables and output views; CheckpointMismatch if another replay is here."""
        identity = self.projection.identity()
        found = self.conn.execute(
            "SELECT value FROM _replay_meta WHERE key = 'projection'"
        ).fetchone()
        if found is not None and found[0] != identity:
            raise CheckpointMismatch(
                f"{self.path} holds a replay of {found[0].split(' ')[0]!r} made otherwise; "
                "choose another --out"
            )
        with self.transaction():
            for table, columns in self.projection.tables.items():
                self.conn.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({columns})')
            for name, output in self.projection.output_tables().items():
                if name not in self.projection.tables:
                    self.conn.execute(f'CREATE OR REPLACE VIEW "{name}" AS {output.query}')
            self.conn.execute(
                "INSERT INTO _replay_meta VALUES ('projection', ?) ON CONFLICT DO NOTHING",
                [identity],
            )

    def schema(self) -> Schema:
        """The projection's tables' column types and keys (read once)."""
        if self._schema is None:
            self._schema = Schema(self.conn, list(self.projection.tables))
        return self._schema

    def positions(self) -> dict[str, int]:
        """The last replayed position of each log."""
        rows = self.conn.execute("SELECT log, position FROM _replay_positions").fetchall()
        return {str(log): int(position) for log, position in rows}

    def record_until(self, until: Until) -> None:
        """Remember where the replay was asked to stop (a time, or positions: empty)."""
        stop = until.time.isoformat() if until.time is not None else ""
        self.conn.execute(
            "INSERT INTO _replay_meta VALUES ('until', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [stop],
        )

    def until(self) -> Until | None:
        """Where the last replay into this store was asked to stop (None: none finished)."""
        found = self.conn.execute("SELECT value FROM _replay_meta WHERE key = 'until'").fetchone()
        if found is None:
            return None
        return Until(time=datetime.fromisoformat(found[0])) if found[0] else Until()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A DuckDB transaction: committed when the block ends, rolled back if it raises."""
        self.conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def unit_of_work(self) -> Iterator[ReplayUnit]:
        """A unit whose writes and positions commit together."""
        with self.transaction():
            unit = ReplayUnit(self.conn, self.schema())
            yield unit
            unit.writes.flush()

    def close(self) -> None:
        """Close the file."""
        self.conn.close()
