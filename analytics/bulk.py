"""A batch's writes to DuckDB in a few set-based statements instead of one per event.

Writes are collected per table and written in three phases when the unit flushes (before a
select, and at the end of the batch): inserts (the first row per primary key wins, as ON
CONFLICT DO NOTHING would), then updates (a row's updates merged in order, the last value
of each column wins), then increments (summed per key). Each phase is one statement per
table and shape, its rows passed as lists and unnested. Within a batch an event's rows are
thus inserted before they are updated or incremented, whatever the order of the calls, which
is what a projection of one log does anyway (an aggregate's first event makes its rows).
A table's updates and increments keep their order: switching from one to the other flushes.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import count
from typing import Any

import duckdb

Key = tuple[Any, ...]


class Schema:
    """Each table's column types and primary key, read from DuckDB once."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        self.types: dict[str, dict[str, str]] = {}
        self.keys: dict[str, tuple[str, ...]] = {}
        for table in tables:
            described = conn.execute(f'DESCRIBE "{table}"').fetchall()
            self.types[table] = {str(row[0]): str(row[1]) for row in described}
            found = conn.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() "
                "WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
                [table],
            ).fetchone()
            self.keys[table] = tuple(found[0]) if found else ()

    def unnested(self, table: str, columns: tuple[str, ...]) -> str:
        """SELECT unnest(?::T[]) AS "c", ... for these columns of the table."""
        types = self.types[table]
        parts = (f'unnest(?::{types[name]}[]) AS "{name}"' for name in columns)
        return f"SELECT {', '.join(parts)}"


class BulkWrites:
    """The writes of one batch, grouped by table and shape until flushed."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, schema: Schema) -> None:
        self.conn = conn
        self.schema = schema
        self.serial = count()
        self.inserts: dict[tuple[str, tuple[str, ...]], dict[Key, list[Any]]] = defaultdict(dict)
        self.updates: dict[tuple[str, tuple[str, ...]], dict[Key, dict[str, Any]]] = defaultdict(
            dict
        )
        self.increments: dict[tuple[str, tuple[str, ...], tuple[str, ...]], dict[Key, list[Any]]]
        self.increments = defaultdict(dict)
        self.kinds: dict[str, str] = {}
        """Whether each table's pending writes are updates or increments."""

    def insert(self, table: str, row: dict[str, Any]) -> None:
        """Queue a row; the first one with its primary key wins."""
        key_columns = self.schema.keys[table]
        key = tuple(row[name] for name in key_columns) if key_columns else (next(self.serial),)
        self.inserts[(table, tuple(row))].setdefault(key, list(row.values()))

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> None:
        """Queue new values for the rows matching key."""
        self.switch(table, "update")
        merged = self.updates[(table, tuple(key))].setdefault(tuple(key.values()), {})
        merged.update(values)

    def increment(self, table: str, key: dict[str, Any], amounts: dict[str, Any]) -> None:
        """Queue amounts to add to the row with this key."""
        self.switch(table, "increment")
        shape = (table, tuple(key), tuple(amounts))
        totals = self.increments[shape].setdefault(tuple(key.values()), [0] * len(amounts))
        for index, amount in enumerate(amounts.values()):
            totals[index] += amount

    def switch(self, table: str, kind: str) -> None:
        """Flush first if the table has pending writes of the other kind (order matters)."""
        if self.kinds.get(table, kind) != kind:
            self.flush()
        self.kinds[table] = kind

    def flush(self) -> None:
        """Write everything queued: inserts, updates, increments, one statement per shape."""
        for (table, columns), first in self.inserts.items():
            self.write(table, columns, list(first.values()), "ON CONFLICT DO NOTHING")
        for (table, key_columns), changes in self.updates.items():
            self.update_rows(table, key_columns, changes)
        for (table, key_columns, amounts), sums in self.increments.items():
            summed = [[*key, *totals] for key, totals in sums.items()]
            keys = ", ".join(f'"{name}"' for name in key_columns)
            sets = ", ".join(f'"{n}" = "{table}"."{n}" + excluded."{n}"' for n in amounts)
            conflict = f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
            self.write(table, (*key_columns, *amounts), summed, conflict)
        self.inserts.clear()
        self.updates.clear()
        self.increments.clear()
        self.kinds.clear()

    def update_rows(
        self, table: str, key_columns: tuple[str, ...], changes: dict[Key, dict[str, Any]]
    ) -> None:
        """One UPDATE ... FROM per set of columns changed."""
        by_columns: dict[tuple[str, ...], list[list[Any]]] = defaultdict(list)
        for key, values in changes.items():
            by_columns[tuple(values)].append([*key, *values.values()])
        for columns, rows in by_columns.items():
            source = self.schema.unnested(table, (*key_columns, *columns))
            sets = ", ".join(f'"{name}" = s."{name}"' for name in columns)
            match = " AND ".join(f't."{name}" = s."{name}"' for name in key_columns)
            statement = f'UPDATE "{table}" AS t SET {sets} FROM ({source}) AS s WHERE {match}'  # noqa: S608
            self.conn.execute(statement, [list(column) for column in zip(*rows, strict=True)])

    def write(
        self, table: str, columns: tuple[str, ...], rows: list[list[Any]], conflict: str
    ) -> None:
        """INSERT the rows (lists of values in column order), with the conflict clause."""
        if not rows:
            return
        names = ", ".join(f'"{name}"' for name in columns)
        source = self.schema.unnested(table, columns)
        statement = f'INSERT INTO "{table}" ({names}) {source} {conflict}'
        self.conn.execute(statement, [list(column) for column in zip(*rows, strict=True)])
