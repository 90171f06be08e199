"""What every PostgreSQL view shares: rows and position change in one transaction.

A versioned view (see projections.stores.postgres.versions) follows the version that readers or
writers use, or is pinned to one; every transaction starts by setting its search_path to
that version's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from infra.schema_lock import lock_schema_in_transaction
from projections.runtime import PositionMoved, ViewVersionMoved
from projections.stores.postgres.versions import (
    COLUMNS,
    REGISTER,
    TRANSIENT,
    VERSIONS_SQL,
    enter,
    registered,
    schema_name,
)
from projections.versions import WRITERS

T = TypeVar("T")

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

    def flush(self) -> None:
        """Write what the unit collected, before the transaction commits (nothing here)."""

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


B = TypeVar("B", bound=PostgresUnit)


class Columns:
    """Rows for a multi-row statement, kept as one list per column (what unnest takes)."""

    def __init__(self, width: int) -> None:
        self.columns: list[list[Any]] = [[] for _ in range(width)]

    def add(self, *row: Any) -> None:
        """Append one row."""
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)

    def __bool__(self) -> bool:
        return bool(self.columns[0])


class PostgresView:
    """A view in PostgreSQL tables, tracked under its name in projection_positions.

    versioned views follow the version readers or writers use (follows), or are pinned to
    version; a live writer's batch writes nothing, raising ViewVersionMoved, once the
    writers were moved to another version.
    """

    transient_errors = TRANSIENT
    create_statements: ClassVar[tuple[str, ...]] = ()
    """What creates the view's own tables, if missing (create() runs them)."""

    def __init__(
        self,
        pool: ConnectionPool,
        name: str,
        *,
        versioned: bool = False,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        self.pool = pool
        self.name = name
        self.versioned = versioned or version is not None
        self.follows = follows if self.versioned else None
        self.pinned = version
        self.version = version or 0

    def create(self) -> None:
        """Create the positions table and the view's own tables, if missing."""
        self.create_tables(*self.create_statements)

    def create_tables(self, *statements: str) -> None:
        """Create the positions table and the view's own tables (one process at a time).

        A versioned view registers itself and creates them in its version's schema.
        """
        with self.pool.connection() as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            if self.versioned:
                conn.execute(VERSIONS_SQL)
                conn.execute(REGISTER, (self.name,))
                version = self.pinned if self.pinned is not None else self._named(conn)
                if version:
                    schema = sql.Identifier(schema_name(conn, self.name, version))
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                    enter(conn, self.name, None, version)
                self.version = version
            conn.execute(POSITIONS_SQL)
            for statement in statements:
                conn.execute(statement)

    def _named(self, conn: psycopg.Connection[Any]) -> int:
        """The version the row names for the pointer this view follows."""
        column = sql.Identifier(COLUMNS[self.follows or WRITERS])
        row = conn.execute(
            sql.SQL("SELECT {} FROM projection_versions WHERE view = %s").format(column),
            (self.name,),
        ).fetchone()
        return int(row[0]) if row else 0

    def positions(self) -> dict[str, int]:
        """The last projected position of each log (in the version the view resolves now)."""
        return self.run(self.read_positions)

    def read_positions(self, conn: psycopg.Connection[Any]) -> dict[str, int]:
        """The view's position in each log, read on conn (in the schema it has entered)."""
        rows = conn.execute(
            "SELECT log, position FROM projection_positions WHERE view = %s", (self.name,)
        ).fetchall()
        return {str(log): int(position) for log, position in rows}

    def run(
        self,
        query: Callable[[psycopg.Connection[Any]], T],
        settings: Mapping[str, str] | None = None,
        isolation: str | None = None,
    ) -> T:
        """query() in one transaction on one version, with these transaction settings.

        A read that resolved a version a rebuild dropped just after (UndefinedTable) is
        retried once on the version now named, or, if no view was ever registered, on the
        unversioned tables.
        """
        for attempt in (1, 2):
            try:
                with self.pool.connection() as conn, conn.transaction():
                    if isolation is not None:
                        conn.execute(isolation)
                    follows = self.follows
                    if attempt == 2 and not registered(conn):
                        follows = None
                    self.version = enter(conn, self.name, follows, self.pinned, settings)
                    return query(conn)
            except psycopg.errors.UndefinedTable:
                if attempt == 2 or not self.versioned:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[PostgresUnit]:
        """A unit whose writes and position commit together, or not at all."""
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if self.versioned:
                version = self.version
                now = enter(conn, self.name, self.follows, self.pinned, lock=True)
                if now != version:
                    raise ViewVersionMoved(f"{self.name} writers use v{now}, not v{version}")
            yield PostgresUnit(self.name, cursor)

    @contextmanager
    def batch(self, make: Callable[[str, psycopg.Cursor[tuple[object, ...]]], B]) -> Iterator[B]:
        """A unit made by make in a transaction(): it is flushed before the commit."""
        with self.transaction() as unit:
            batch = make(unit.view, unit.cursor)
            yield batch
            batch.flush()
