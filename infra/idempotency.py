"""Idempotency keys kept in PostgreSQL: the first response to a key is the answer forever after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from infra.postgres_pool import STARTUP_TIMEOUT_SECONDS, without_call_timeout
from infra.schema_lock import lock_schema_in_transaction

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    principal text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'done')),
    status integer,
    headers jsonb,
    body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
"""


PENDING_LEASE_SECONDS = 60
"""A pending claim older than this belongs to a request that died; a retry may take it."""


@dataclass(frozen=True)
class StoredResponse:
    """A response recorded for a key."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: go ahead, replay, or refuse."""

    verdict: Literal["new", "replay", "mismatch", "in_progress"]
    response: StoredResponse | None = None


class IdempotencyStore:
    """Claims keys per principal, records responses, and forgets keys older than the TTL.

    Each call is as bounded as the pool it is given (the command API's: a wait for a
    connection, then for each answer, within the write store timeout).
    """

    def __init__(self, pool: ConnectionPool, ttl_hours: int = 24) -> None:
        if ttl_hours < 24:
            raise ValueError("idempotency keys are kept for at least 24 hours")
        self._pool = pool
        self._ttl = f"{int(ttl_hours)} hours"
        self._lease = f"{PENDING_LEASE_SECONDS} seconds"

    def close(self) -> None:
        """Close the store's pool."""
        self._pool.close()

    def ping(self) -> None:
        """One round trip to the store (readiness)."""
        with self._pool.connection() as conn:
            conn.execute("SELECT 1")

    def create_table(self) -> None:
        """Create the table if it does not exist (one process at a time; at startup, so with
        no call timeout, as it may wait behind other processes' DDL)."""
        waiting = self._pool.connection(timeout=STARTUP_TIMEOUT_SECONDS)
        with without_call_timeout(), waiting as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            conn.execute(SCHEMA_SQL)

    def claim(self, principal: str, key: str, request_hash: str) -> Claim:
        """Claim a key for a request, or say what the earlier use of the key decides."""
        with self._pool.connection() as conn:
            row = conn.execute(
                """
                INSERT INTO idempotency_keys AS k (principal, key, request_hash, state)
                VALUES (%s, %s, %s, 'pending')
                ON CONFLICT (principal, key) DO UPDATE
                    SET request_hash = EXCLUDED.request_hash, state = 'pending',
                        status = NULL, headers = NULL, body = NULL, created_at = now()
                    WHERE k.created_at < now() - %s::interval
                       OR (k.state = 'pending' AND k.created_at < now() - %s::interval)
                RETURNING 1
                """,
                (principal, key, request_hash, self._ttl, self._lease),
            ).fetchone()
            if row is not None:
                return Claim("new")
            found = conn.execute(
                "SELECT request_hash, state, status, headers, body FROM idempotency_keys "
                "WHERE principal = %s AND key = %s",
                (principal, key),
            ).fetchone()
        if found is None:
            return self.claim(principal, key, request_hash)
        stored_hash, state, status, headers, body = found
        if stored_hash != request_hash:
            return Claim("mismatch")
        if state == "pending":
            return Claim("in_progress")
        return Claim("replay", StoredResponse(status, dict(headers or {}), bytes(body or b"")))

    def complete(self, principal: str, key: str, response: StoredResponse) -> None:
        """Record the response that answers every later use of the key."""
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET state = 'done', status = %s, headers = %s, body = %s "
                "WHERE principal = %s AND key = %s",
                (response.status, Jsonb(response.headers), response.body, principal, key),
            )

    def abandon(self, principal: str, key: str) -> None:
        """Forget a pending claim whose request failed unexpectedly, so a retry can run."""
        with self._pool.connection() as conn:
            conn.execute(
                "DELETE FROM idempotency_keys "
                "WHERE principal = %s AND key = %s AND state = 'pending'",
                (principal, key),
            )

    def purge_expired(self) -> int:
        """Delete keys older than the TTL (at startup: no call timeout); how many were deleted."""
        waiting = self._pool.connection(timeout=STARTUP_TIMEOUT_SECONDS)
        with without_call_timeout(), waiting as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - %s::interval", (self._ttl,)
            )
            return cursor.rowcount
