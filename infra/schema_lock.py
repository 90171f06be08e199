"""One PostgreSQL advisory lock around schema creation.

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
