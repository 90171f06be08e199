"""Versions of a PostgreSQL view: a schema per version, and a row naming the live ones.

Version N >= 1 of view `orders` lives in schema `<base>_orders_vN`, tables and positions
alike, where base is the schema the connections use (`current_schema()`); version 0 is the
unversioned layout, the view's tables in base itself. The row of `projection_versions` (in
base) names the version readers use and the one writers use.

A transaction picks its version in its first statement, which reads the row and sets the
transaction's search_path to that version's schema: every later statement of the
transaction reads that one version, whatever a rebuild switches meanwhile. A live batch
takes the row FOR SHARE in that statement, so switching the writers waits for the batch in
flight, and a batch started after the switch sees the new version and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from projections.versions import READERS, WRITERS, CreatedView, Pointers, VersionConflict, reached

TRANSIENT: tuple[type[BaseException], ...] = (psycopg.OperationalError, PoolTimeout)
"""A server that is down, restarting or unreachable, or a pool with no connection to give."""

VERSIONS_SQL = """
CREATE TABLE IF NOT EXISTS projection_versions (
    view text PRIMARY KEY,
    readers integer NOT NULL DEFAULT 0,
    writers integer NOT NULL DEFAULT 0
)
"""
REGISTER = "INSERT INTO projection_versions (view) VALUES (%s) ON CONFLICT DO NOTHING"
COLUMNS = {READERS: "readers", WRITERS: "writers"}
MAX_IDENTIFIER = 63
SWITCH_LOCK_TIMEOUT = "10s"
DROP_ATTEMPTS = 5

SCHEMA_OF = (
    "set_config('search_path', CASE WHEN {version} = 0 THEN current_setting('search_path') "
    "ELSE quote_ident(current_schema() || %(suffix)s || {version}) END, true)"
)
"""Sets the transaction's search_path to a version's: the connection's own for 0, else the
version's schema."""


def version_suffix(view: str) -> str:
    """What follows the base schema's name in the name of one of the view's version schemas."""
    return "_" + re.sub(r"[^a-z0-9]+", "_", view.lower()).strip("_") + "_v"


def _settings(settings: Mapping[str, str], params: dict[str, Any]) -> list[sql.Composable]:
    columns: list[sql.Composable] = []
    for n, (name, value) in enumerate(settings.items()):
        params[f"name{n}"], params[f"value{n}"] = name, value
        columns.append(sql.SQL("set_config(%(name{n})s, %(value{n})s, true)").format(n=n))
    return columns


def enter(
    conn: psycopg.Connection[Any],
    view: str,
    follows: str | None,
    pinned: int | None,
    settings: Mapping[str, str] | None = None,
    *,
    lock: bool = False,
) -> int:
    """Set this transaction's search_path (and settings) to a version; which version.

    follows None with pinned None: the connection's own schema (an unversioned view).
    pinned: that version. Else the version the row names for follows (0 without a row);
    lock takes the row FOR SHARE (a live batch).
    """
    params: dict[str, Any] = {"view": view, "suffix": version_suffix(view)}
    extra = _settings(settings or {}, params)
    if follows is None or pinned is not None:
        params["pinned"] = pinned or 0
        path = sql.SQL(SCHEMA_OF).format(version=sql.SQL("%(pinned)s::integer"))
        columns = [path, *extra] if pinned else extra
        if columns:
            conn.execute(sql.SQL("SELECT {}").format(sql.SQL(", ").join(columns)), params)
        return pinned or 0
    column = sql.Identifier(COLUMNS[follows])
    path = sql.SQL(SCHEMA_OF).format(version=sql.SQL("v.version"))
    selected = sql.SQL(", ").join([sql.SQL("v.version"), path, *extra])
    if lock:
        statement = sql.SQL(
            "SELECT {selected} FROM (SELECT {column} AS version FROM projection_versions "
            "WHERE view = %(view)s FOR SHARE) AS v"
        )
    else:
        statement = sql.SQL(
            "SELECT {selected} FROM (SELECT coalesce((SELECT {column} FROM projection_versions "
            "WHERE view = %(view)s), 0) AS version) AS v"
        )
    row = conn.execute(statement.format(selected=selected, column=column), params).fetchone()
    if row is None:  # no row (locking): version 0, whose search_path is the connection's own
        enter(conn, view, None, None, settings)
        return 0
    return int(row[0])


def registered(conn: psycopg.Connection[Any]) -> bool:
    """Whether projection_versions exists (it does once a versioned view was created)."""
    row = conn.execute("SELECT to_regclass('projection_versions') IS NOT NULL").fetchone()
    return bool(row and row[0])


def schema_name(conn: psycopg.Connection[Any], view: str, version: int) -> str:
    """The schema holding version (>= 1) of the view, beside the connection's own schema."""
    row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None and row[0], "the connection's search_path names no schema"
    name = f"{row[0]}{version_suffix(view)}{version}"
    if len(name.encode()) > MAX_IDENTIFIER:
        raise ValueError(f"schema name {name!r} is longer than {MAX_IDENTIFIER} bytes")
    return name


class PostgresVersions(Pointers):
    """The versions of one PostgreSQL view; view(n) opens the view pinned to version n."""

    grace_seconds = 0.0
    transient_errors = TRANSIENT

    def __init__(
        self,
        pool: ConnectionPool,
        name: str,
        tables: tuple[str, ...],
        view: Callable[[int], CreatedView],
    ) -> None:
        self.pool = pool
        self.name = name
        self.tables = tables
        self.view = view
        with pool.connection() as conn:
            row = conn.execute("SELECT current_schema()").fetchone()
        assert row is not None
        self.base = str(row[0])
        self.lock_name = f"postgres:{self.base}:{name}"

    def existing(self) -> set[int]:
        """Versions with a schema, and 0 if any of the view's tables is in the base schema."""
        prefix = f"{self.base}{version_suffix(self.name)}"
        with self.pool.connection() as conn:
            schemas = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE left(nspname, %s) = %s",
                (len(prefix), prefix),
            ).fetchall()
            rests = (nspname[len(prefix) :] for (nspname,) in schemas)
            found = {int(rest) for rest in rests if rest.isdigit()}
            for table in self.tables:
                if self._exists(conn, self.base, table):
                    found.add(0)
        return found

    def build(self, version: int) -> CreatedView:
        """An empty view pinned to version, its schema and tables created."""
        self.drop(version)
        view = self.view(version)
        view.create()
        return view

    def move_writers(self, old: int, new: int) -> None:
        """Point the writers at new, once the batch in flight (holding the row) commits."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT}'")
            conn.execute(REGISTER, (self.name,))
            moved = conn.execute(
                "UPDATE projection_versions SET writers = %s WHERE view = %s AND writers = %s",
                (new, self.name, old),
            ).rowcount
        if moved != 1:
            raise VersionConflict(f"{self.name}: writers are not at v{old}")

    def move_readers(self, old: int, new: int) -> bool:
        """Point the readers at new if new is complete and has reached old's positions, in one
        transaction."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT}'")
            conn.execute(REGISTER, (self.name,))
            row = conn.execute(
                "SELECT readers FROM projection_versions WHERE view = %s FOR UPDATE", (self.name,)
            ).fetchone()
            if row is None or row[0] != old:
                raise VersionConflict(f"{self.name}: readers are not at v{old}")
            if not self._complete(conn, new):
                return False
            if not reached(self._positions(conn, new), self._positions(conn, old)):
                return False
            conn.execute(
                "UPDATE projection_versions SET readers = %s WHERE view = %s", (new, self.name)
            )
        return True

    def drop(self, version: int) -> None:
        """Drop the version's schema (for 0, the view's tables and positions in base).

        Dropping waits for the transactions still reading the version (bounded by
        lock_timeout, then retried); one that resolved it just before the readers moved and
        finds it gone is retried by the view on the version now named.
        """
        for attempt in range(DROP_ATTEMPTS):
            try:
                self._drop(version)
                return
            except psycopg.errors.LockNotAvailable:
                if attempt == DROP_ATTEMPTS - 1:
                    raise

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()

    def _drop(self, version: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{SWITCH_LOCK_TIMEOUT}'")
            if version:
                schema = sql.Identifier(self._schema(version))
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
                return
            tables = [sql.Identifier(self.base, table) for table in self.tables]
            dropped = sql.SQL(", ").join(tables)
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(dropped))
            for kept in ("projection_positions", "projection_targets"):
                if self._exists(conn, self.base, kept):
                    conn.execute(
                        sql.SQL("DELETE FROM {} WHERE view = %s").format(
                            sql.Identifier(self.base, kept)
                        ),
                        (self.name,),
                    )

    def _pointer(self, follows: str) -> int:
        with self.pool.connection() as conn:
            if not registered(conn):
                return 0
            row = conn.execute(
                sql.SQL("SELECT {} FROM projection_versions WHERE view = %s").format(
                    sql.Identifier(COLUMNS[follows])
                ),
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0

    def _schema(self, version: int) -> str:
        return self.base if version == 0 else f"{self.base}{version_suffix(self.name)}{version}"

    def _positions(self, conn: psycopg.Connection[Any], version: int) -> dict[str, int]:
        schema = self._schema(version)
        if not self._exists(conn, schema, "projection_positions"):
            return {}
        rows = conn.execute(
            sql.SQL("SELECT log, position FROM {} WHERE view = %s").format(
                sql.Identifier(schema, "projection_positions")
            ),
            (self.name,),
        ).fetchall()
        return {str(log): int(position) for log, position in rows}

    def _complete(self, conn: psycopg.Connection[Any], version: int) -> bool:
        """Whether version has positions and no completeness target left."""
        if not self._positions(conn, version):
            return False
        schema = self._schema(version)
        if not self._exists(conn, schema, "projection_targets"):
            return True
        row = conn.execute(
            sql.SQL("SELECT NOT EXISTS (SELECT FROM {} WHERE view = %s)").format(
                sql.Identifier(schema, "projection_targets")
            ),
            (self.name,),
        ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _exists(conn: psycopg.Connection[Any], schema: str, table: str) -> bool:
        row = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
            (schema, table),
        ).fetchone()
        return bool(row and row[0])
