"""A PostgreSQL view that also answers the query API: bounded reads, empty until created."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from projections.completeness import Completeness, ViewIncomplete
from projections.stores.postgres.unit import PostgresView
from projections.versions import WRITERS

T = TypeVar("T")


class PostgresReadView(PostgresView):
    """A view whose reads run in one transaction each, within an optional statement timeout.

    It reads the version its pointer names (follows: READERS for the query API, WRITERS for
    the projector), or the pinned version. A read of a view that is not complete (not
    created yet, or built from empty and short of its target: projections.completeness)
    raises ViewIncomplete rather than answer from part of the logs; its positions and
    completeness answer as an empty view's (a query API may start first). A timed-out statement
    raises QueryCanceled, an OperationalError, so the query API answers 503 like any other
    store outage.
    """

    default_name: ClassVar[str] = ""
    """The view's name when none is given (its projection's)."""

    def __init__(
        self,
        pool: ConnectionPool,
        name: str | None = None,
        *,
        statement_timeout_ms: int | None = None,
        owns_pool: bool = True,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        view = name or self.default_name
        super().__init__(pool, view, versioned=True, follows=follows, version=version)
        self.statement_timeout_ms = statement_timeout_ms
        self.owns_pool = owns_pool

    def positions(self) -> dict[str, int]:
        """The last projected position of each log (none before the tables exist)."""

        def read(conn: psycopg.Connection[Any]) -> dict[str, int]:
            rows = conn.execute(
                "SELECT log, position FROM projection_positions WHERE view = %s", (self.name,)
            ).fetchall()
            return {str(log): int(position) for log, position in rows}

        return self._bounded(read, {})

    def completeness(self) -> Completeness:
        """The positions and completeness target left (none before the tables exist)."""
        return self._bounded(self.completeness_in, Completeness({}))

    def read(self, query: Callable[[psycopg.Connection[Any]], T]) -> T:
        """query() in one transaction within the statement timeout, from a complete view.

        ViewIncomplete if the version read is not complete, or not created yet.
        """

        def complete(conn: psycopg.Connection[Any]) -> T:
            self.require_complete(conn)
            return query(conn)

        try:
            return self.run(complete, self._settings())
        except psycopg.errors.UndefinedTable:
            raise ViewIncomplete(self.name, "not created yet") from None

    def _bounded(self, query: Callable[[psycopg.Connection[Any]], T], missing: T) -> T:
        """query() in one transaction within the statement timeout; missing if a table is."""
        try:
            return self.run(query, self._settings())
        except psycopg.errors.UndefinedTable:
            return missing

    def _settings(self) -> dict[str, str]:
        if self.statement_timeout_ms is None:
            return {}
        return {"statement_timeout": str(self.statement_timeout_ms)}

    def close(self) -> None:
        """Release the view's pool, if it is the view's own."""
        if self.owns_pool:
            self.pool.close()
