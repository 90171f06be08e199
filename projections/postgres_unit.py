"""What every PostgreSQL view shares: rows and position change in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from infra.schema_lock import lock_schema_in_transaction
from projections.runtime import PositionMoved

TRANSIENT: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)

POSITIONS_SQL = """
CREATE TABLE IF NOT EXISTS projection_positions (
    view text NOT NULL,
    log text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (view, log)
)
"""


class PostgresUnit:
    """One batch's open transaction: views write through cursor; track() moves the position."""

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        self.view = view
        self.cursor = cursor

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's position from after to position, or raise PositionMoved."""
        moved = self.cursor.execute(
            "UPDATE projection_positions SET position = %s "
            "WHERE view = %s AND log = %s AND position = %s",
            (position, self.view, log, after),
        ).rowcount
        if moved == 1:
            return
        inserted = 0
        if after == 0:
            inserted = self.cursor.execute(
                "INSERT INTO projection_positions (view, log, position) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.view, log, position),
            ).rowcount
        if inserted != 1:
            raise PositionMoved(f"{self.view} is not at {after} in {log}")


class PostgresView:
    """A view in PostgreSQL tables, tracked under its name in projection_positions."""

    transient_errors = TRANSIENT

    def __init__(self, pool: ConnectionPool, name: str) -> None:
        self.pool = pool
        self.name = name

    def create_tables(self, *statements: str) -> None:
        """Create the positions table and the view's own tables (one process at a time)."""
        with self.pool.connection() as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            conn.execute(POSITIONS_SQL)
            for statement in statements:
                conn.execute(statement)

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT log, position FROM projection_positions WHERE view = %s", (self.name,)
            ).fetchall()
        return {str(log): int(position) for log, position in rows}

    @contextmanager
    def transaction(self) -> Iterator[PostgresUnit]:
        """A unit whose writes and position commit together, or not at all."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield PostgresUnit(self.name, cursor)
