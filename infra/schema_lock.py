"""PostgreSQL advisory locks: one around schema creation, and named ones held by a process.

Several processes start at once (API workers, projectors) and each creates the tables it
needs with IF NOT EXISTS; PostgreSQL does not make concurrent DDL on the same objects safe
("tuple concurrently updated", duplicate type names), so creation is serialised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

SCHEMA_LOCK_KEY = 7_312_046_519
"""An arbitrary application-wide key for pg_advisory_lock."""


def lock_schema_in_transaction(conn: psycopg.Connection[Any]) -> None:
    """Hold the schema lock until the connection's current transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))


@contextmanager
def schema_locked(conninfo: str, **kwargs: Any) -> Iterator[None]:
    """Hold the schema lock on a connection of its own while the block runs."""
    options = {k: v for k, v in kwargs.items() if k not in ("autocommit", "row_factory")}
    with psycopg.connect(conninfo, autocommit=True, **options) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


class LockHeld(Exception):
    """Another session holds the named lock."""


@contextmanager
def holding(conninfo: str, name: str, **kwargs: Any) -> Iterator[None]:
    """Hold the advisory lock called name on a connection of its own, or raise LockHeld.

    The lock goes with the connection: a process that dies releases it.
    """
    options = {k: v for k, v in kwargs.items() if k not in ("autocommit", "row_factory")}
    with psycopg.connect(conninfo, autocommit=True, **options) as conn:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,)
        ).fetchone()
        if not (row and row[0]):
            raise LockHeld(f"another process holds the lock {name!r}")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
