"""What every PostgreSQL view shares: rows and position change in one transaction.

A versioned view (see projections.stores.postgres.versions) follows the version that readers or
writers use, or is pinned to one; every transaction starts by setting its search_path to
that version's schema.

A view's completeness target (projections.completeness) is kept in projection_targets, beside
its positions: a row per log still short of its target, deleted by the batch that reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from infra.schema_lock import lock_schema_in_transaction
from projections.completeness import Completeness, ViewIncomplete
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
TARGETS_SQL = """
CREATE TABLE IF NOT EXISTS projection_targets (
    view text NOT NULL,
    log text NOT NULL,
    position bigint NOT NULL,
    PRIMARY KEY (view, log)
)
"""
TRACK = """
WITH reached AS (
    DELETE FROM projection_targets
    WHERE view = %(view)s AND log = %(log)s AND position <= %(position)s
)
UPDATE projection_positions SET position = %(position)s
WHERE view = %(view)s AND log = %(log)s AND position = %(after)s
"""
"""Moves a log's position, and clears the log's completeness target once it is reached."""
COMPLETENESS = """
SELECT 'position', log, position FROM projection_positions WHERE view = %(view)s
UNION ALL
SELECT 'target', log, position FROM projection_targets WHERE view = %(view)s
"""
IS_COMPLETE = """
SELECT EXISTS (SELECT FROM projection_positions WHERE view = %(view)s)
    AND NOT EXISTS (SELECT FROM projection_targets WHERE view = %(view)s)
"""
START_EMPTY = """
WITH started AS (
    INSERT INTO projection_positions (view, log, position)
    SELECT %(view)s, log, 0 FROM unnest(%(logs)s::text[]) AS log
    ON CONFLICT DO NOTHING
)
INSERT INTO projection_targets (view, log, position)
SELECT %(view)s, t.log, t.position
FROM unnest(%(logs)s::text[], %(heads)s::bigint[]) AS t(log, position)
WHERE t.position > 0
ON CONFLICT (view, log) DO UPDATE SET position = excluded.position
"""


LOCK_START = "SELECT pg_advisory_xact_lock(hashtext('projection start ' || %s))"
"""Held while a view found empty records its target, so two starts cannot interleave."""


class PostgresUnit:
    """One batch's open transaction: views write through cursor; track() moves the position."""

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        self.view = view
        self.cursor = cursor

    def flush(self) -> None:
        """Write what the unit collected, before the transaction commits (nothing here)."""

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's position from after to position, or raise PositionMoved."""
        params = {"view": self.view, "log": log, "position": position, "after": after}
        moved = self.cursor.execute(TRACK, params).rowcount
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
            conn.execute(TARGETS_SQL)
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

        def read(conn: psycopg.Connection[Any]) -> dict[str, int]:
            rows = conn.execute(
                "SELECT log, position FROM projection_positions WHERE view = %s", (self.name,)
            ).fetchall()
            return {str(log): int(position) for log, position in rows}

        return self.run(read)

    def completeness(self) -> Completeness:
        """The positions and the completeness target left, in the version resolved now."""
        return self.run(self.completeness_in)

    def completeness_in(self, conn: psycopg.Connection[Any]) -> Completeness:
        """completeness() in the transaction of conn, which entered a version already."""
        rows = conn.execute(COMPLETENESS, {"view": self.name}).fetchall()
        found: dict[str, dict[str, int]] = {"position": {}, "target": {}}
        for kind, log, position in rows:
            found[kind][str(log)] = int(position)
        return Completeness(found["position"], found["target"])

    def start_empty(self, target: dict[str, int]) -> dict[str, int]:
        """Record target and a position of 0 per log, if the version has no positions."""

        def start(conn: psycopg.Connection[Any]) -> dict[str, int]:
            conn.execute(LOCK_START, (self.name,))
            rows = conn.execute(
                "SELECT log, position FROM projection_positions WHERE view = %s", (self.name,)
            ).fetchall()
            if rows:
                return {str(log): int(position) for log, position in rows}
            params = {"view": self.name, "logs": list(target), "heads": list(target.values())}
            conn.execute(START_EMPTY, params)
            return dict.fromkeys(target, 0)

        return self.run(start)

    def require_complete(self, conn: psycopg.Connection[Any]) -> None:
        """Raise ViewIncomplete unless the version this transaction reads is complete."""
        row = conn.execute(IS_COMPLETE, {"view": self.name}).fetchone()
        if not (row and row[0]):
            raise ViewIncomplete(self.name)

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
