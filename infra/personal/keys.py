"""Where the per-person data keys live: a key-store interface and its PostgreSQL table.

A person's row is kept when their key is erased (data_key NULL, erased_at set), so that
nothing written later for them gets a fresh key: it is written already erased. A cloud KMS
can stand in for the table behind the same methods.

A person who is new (their own stream's first event) gets a key made in the append that
seals their data: the mapper makes it, and the recorder inserts it in the append's own
statement (new_keys_insert), so it commits or rolls back with their events. A key row found
there already (they had one, or were erased) fails the append with a unique violation of
this table (key_taken): the event store then seals again with the stored key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import psycopg
from cachetools import LRUCache, TTLCache
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from infra.personal.cipher import new_data_key
from infra.schema_lock import lock_schema_in_transaction

KEY_TABLE = "personal_data_keys"
KEY_CACHE_SECONDS = 10.0
"""How long a process reuses a key it read; an erasure is seen by every process after this."""
KEY_CACHE_SIZE = 100_000

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class KeyStore(Protocol):
    """The data keys of persons, by person id."""

    def key_for_writing(self, person: str) -> bytes | None:
        """The person's key, made now if they have none; None once they are erased."""

    def key_for_reading(self, person: str) -> bytes | None:
        """The person's key; None once they are erased (or if they never had one)."""

    def erase(self, person: str) -> None:
        """Delete the person's key for good; erasing twice changes nothing."""

    def forget(self, person: str) -> None:
        """Drop any copy of the person's key this process holds (it was erased elsewhere)."""

    def may_be_new(self, person: str) -> bool:
        """Whether the person may have no key row yet (this process knows of none)."""

    def has_row(self, person: str) -> None:
        """Note that the person has a key row (made, or erased): never make one in an append."""

    def remember(self, person: str, key: bytes) -> None:
        """Cache a key this process made in an append that committed."""


class PostgresKeyStore:
    """Data keys in a PostgreSQL table of the given schema, each read cached for a moment.

    beside_events: the events sealed with these keys are appended to the same server, after
    the key is made. A new key then commits without waiting for its WAL flush: the append's
    own (synchronous) commit flushes the WAL up to it, so no stored event ever outlives its
    key, and a new person costs no second flush (the write path's group commit shares one).
    """

    def __init__(self, connect: Connect, schema: str, *, beside_events: bool = False) -> None:
        self._connect = connect
        self._beside_events = beside_events
        self._schema = schema
        self._table = Identifier(schema, KEY_TABLE)
        self._cache: TTLCache[str, bytes] = TTLCache(KEY_CACHE_SIZE, KEY_CACHE_SECONDS)
        self._erased: set[str] = set()
        self._rows: LRUCache[str, bool] = LRUCache(KEY_CACHE_SIZE)
        self._lock = threading.Lock()
        self._ready = False

    def key_for_writing(self, person: str) -> bytes | None:
        """The person's key, made now if they have none; None once they are erased."""
        return self._cached(person) or self._fetch(person, create=True)

    def key_for_reading(self, person: str) -> bytes | None:
        """The person's key; None once they are erased (or if they never had one)."""
        return self._cached(person) or self._fetch(person, create=False)

    def erase(self, person: str) -> None:
        """Delete the person's key for good, keeping the row that says they are erased."""
        self._create_table()
        statement = SQL(
            "INSERT INTO {} (person_id, data_key, erased_at) VALUES (%s, NULL, now()) "
            "ON CONFLICT (person_id) DO UPDATE SET data_key = NULL, "
            "erased_at = coalesce({}.erased_at, now())"
        ).format(self._table, self._table)
        with self._connect() as conn, conn.transaction():
            conn.execute(statement, (person,))
        with self._lock:
            self._cache.pop(person, None)
            self._erased.add(person)

    def forget(self, person: str) -> None:
        """Drop the cached key: the next read asks the table (which knows of the erasure)."""
        with self._lock:
            self._cache.pop(person, None)

    def may_be_new(self, person: str) -> bool:
        """Whether the person may have no key row yet (this process knows of none)."""
        with self._lock:
            return not (person in self._erased or person in self._cache or person in self._rows)

    def has_row(self, person: str) -> None:
        """Note that the person has a key row: their next key comes from the table."""
        with self._lock:
            self._rows[person] = True

    def remember(self, person: str, key: bytes) -> None:
        """Cache a key this process made in an append that committed."""
        with self._lock:
            self._cache[person] = key

    def _cached(self, person: str) -> bytes | None:
        with self._lock:
            return None if person in self._erased else self._cache.get(person)

    def _fetch(self, person: str, *, create: bool) -> bytes | None:
        with self._lock:
            if person in self._erased:
                return None
        self._create_table()
        row = self._insert(person) if create else self._select(person)
        if row is None and create:  # another process inserted it under our snapshot
            row = self._select(person)
        key = None if row is None else row[0]
        with self._lock:
            if key is not None:
                self._cache[person] = bytes(key)
            elif row is not None:
                self._erased.add(person)
        return None if key is None else bytes(key)

    def _select(self, person: str) -> tuple[Any, ...] | None:
        statement = SQL("SELECT data_key FROM {} WHERE person_id = %s").format(self._table)
        with self._connect() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            return cursor.execute(statement, (person,)).fetchone()

    def _insert(self, person: str) -> tuple[Any, ...] | None:
        statement = SQL(
            "WITH made AS (INSERT INTO {} (person_id, data_key) VALUES (%s, %s) "
            "ON CONFLICT (person_id) DO NOTHING RETURNING data_key) "
            "SELECT data_key FROM made UNION ALL "
            "SELECT data_key FROM {} WHERE person_id = %s LIMIT 1"
        ).format(self._table, self._table)
        with (
            self._connect() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as cursor,
        ):
            if self._beside_events:
                cursor.execute("SET LOCAL synchronous_commit = off")
            return cursor.execute(statement, (person, new_data_key(), person)).fetchone()

    def _create_table(self) -> None:
        if self._ready:
            return
        with self._connect() as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            create_key_table(conn, self._schema)
        self._ready = True


def create_key_table(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the schema's key table if it is not there (under the caller's schema lock)."""
    conn.execute(
        SQL(
            "CREATE TABLE IF NOT EXISTS {} (person_id text PRIMARY KEY, data_key bytea, "
            "erased_at timestamptz)"
        ).format(Identifier(schema, KEY_TABLE))
    )


def new_keys_insert(schema: str) -> Composed:
    """An insert of new persons' keys (two arrays: ids, keys) that fails if one has a row."""
    return SQL(
        "INSERT INTO {} (person_id, data_key) SELECT * FROM unnest(%s::text[], %s::bytea[])"
    ).format(Identifier(schema, KEY_TABLE))


def key_taken(error: BaseException) -> bool:
    """Whether error is (or was caused by) a unique violation of a key table."""
    cause = error if isinstance(error, psycopg.errors.UniqueViolation) else error.__cause__
    return isinstance(cause, psycopg.errors.UniqueViolation) and cause.diag.table_name == KEY_TABLE
