"""Idempotency keys kept in PostgreSQL: the first response to a key is the answer forever after.

A request that claims a key holds a session advisory lock on it while it runs, on a pooled
connection of its own (its Lease): the lock goes with the request, its connection or its
process. A retry that finds the key pending and its lock free takes the key over at once,
since the request that held it is gone: once every event-store transaction open at that
moment has ended (so a cut-off append has committed or never will), what that request did is
in the event logs, in events carrying its request id, and the caller answers from them or
runs the command anew. A retry that finds the lock held is refused: the request still runs.
A fencing token, new with each claim, keeps a claimant that was taken over from recording
its response over the new claimant's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import Connection
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from infra.postgres_pool import (
    EVENT_STORE_APPLICATION,
    STARTUP_TIMEOUT_SECONDS,
    without_call_timeout,
)
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
ALTER TABLE idempotency_keys
    ADD COLUMN IF NOT EXISTS request_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS heads jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS token bigint NOT NULL DEFAULT 0;
"""
SETTLE_SECONDS = 1.0
"""How long a takeover waits for the event-store transactions open when it found the key's
claimant gone; past it, the retry is refused as in progress (a 409 with Retry-After)."""
SETTLE_POLL_SECONDS = 0.02
APPENDS_OPEN = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = %s AND xact_start < %s
"""
LOOK = """
SELECT pg_try_advisory_lock(hashtextextended(%(lock)s, 0)), now(), k.request_hash, k.state,
       k.status, k.headers, k.body, k.request_ids, k.heads, k.created_at < now() - %(ttl)s
FROM (VALUES (1)) AS one (x)
LEFT JOIN idempotency_keys k ON k.principal = %(principal)s AND k.key = %(key)s
"""
CLAIM = """
INSERT INTO idempotency_keys AS k
    (principal, key, request_hash, state, request_ids, heads, token)
VALUES (%(principal)s, %(key)s, %(hash)s, 'pending', ARRAY[%(request)s], (
    SELECT coalesce(jsonb_object_agg(log.name, coalesce(pg_sequence_last_value(
        pg_get_serial_sequence(log.events, 'notification_id')::regclass), 0)), '{}')
    FROM unnest(%(logs)s::text[], %(tables)s::text[]) AS log (name, events)
), 1)
ON CONFLICT (principal, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, state = 'pending', status = NULL,
        headers = NULL, body = NULL, created_at = now(), request_ids = EXCLUDED.request_ids,
        heads = EXCLUDED.heads, token = k.token + 1
RETURNING token
"""
TAKE_OVER = """
UPDATE idempotency_keys
SET token = token + 1, request_ids = array_append(request_ids, %(request)s::text)
WHERE principal = %(principal)s AND key = %(key)s
RETURNING token
"""


@dataclass(frozen=True)
class StoredResponse:
    """A response recorded for a key."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Lease:
    """A claim held by a running request: its connection (holding the key's lock) and token."""

    principal: str
    key: str
    token: int
    conn: Connection[Any]


@dataclass(frozen=True)
class Orphan:
    """What the requests that held a key before left to go on: their request ids, and the
    logs' positions when the first of them claimed it (its events, if any, come after)."""

    request_ids: tuple[str, ...]
    heads: dict[str, int]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: go ahead (new, or taken over from requests that are
    gone; with a lease to end), replay, or refuse."""

    verdict: Literal["new", "taken_over", "replay", "mismatch", "in_progress"]
    response: StoredResponse | None = None
    lease: Lease | None = None
    orphan: Orphan | None = None


class IdempotencyStore:
    """Claims keys per principal, records responses, and forgets keys older than the TTL.

    logs maps each event log's name to its PostgreSQL table, when the event store is there:
    a claim notes each log's last position, where a takeover's search begins (without it,
    at the start of the log). Each call is as bounded as the pool it is given (the command
    API's: a wait for a connection, then for each answer, within the write store timeout).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        ttl_hours: int = 24,
        logs: Mapping[str, str] | None = None,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        if ttl_hours < 24:
            raise ValueError("idempotency keys are kept for at least 24 hours")
        self._pool = pool
        self._ttl = timedelta(hours=int(ttl_hours))
        self._logs = dict(logs or {})
        self._settle_seconds = settle_seconds

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

    def claim(self, principal: str, key: str, request_hash: str, request_id: str) -> Claim:
        """Claim a key for a request, or say what the earlier use of the key decides.

        A claim that goes ahead holds a lease: end it with complete, abandon or release.
        """
        conn = self._pool.getconn()
        try:
            claim = self._claim(conn, principal, key, request_hash, request_id)
        except BaseException:
            self._give_back(conn)
            raise
        if claim.lease is None:
            self._give_back(conn)
        return claim

    def complete(self, lease: Lease, response: StoredResponse) -> None:
        """Record the response that answers every later use of the key; end the lease."""
        self._end(
            lease,
            "UPDATE idempotency_keys SET state = 'done', status = %s, headers = %s, body = %s "
            "WHERE principal = %s AND key = %s AND token = %s",
            (response.status, Jsonb(response.headers), response.body),
        )

    def abandon(self, lease: Lease) -> None:
        """Forget a pending claim whose request failed unexpectedly, so a retry can run."""
        self._end(
            lease,
            "DELETE FROM idempotency_keys "
            "WHERE state = 'pending' AND principal = %s AND key = %s AND token = %s",
            (),
        )

    def release(self, lease: Lease) -> None:
        """End the lease and leave the key pending: its request's outcome is unknown, and
        the next claim takes it over once the event store has settled it."""
        self._give_back(lease.conn)

    def purge_expired(self) -> int:
        """Delete keys older than the TTL (at startup: no call timeout); how many were deleted."""
        waiting = self._pool.connection(timeout=STARTUP_TIMEOUT_SECONDS)
        with without_call_timeout(), waiting as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency_keys WHERE created_at < now() - %s", (self._ttl,)
            )
            return cursor.rowcount

    def _claim(
        self, conn: Connection[Any], principal: str, key: str, request_hash: str, request_id: str
    ) -> Claim:
        names = {"principal": principal, "key": key, "request": request_id}
        found = conn.execute(LOOK, {**names, "lock": f"{principal}\n{key}", "ttl": self._ttl})
        row: tuple[Any, ...] | None = found.fetchone()
        assert row is not None  # one row, with or without the key's
        held, now, stored_hash, state, status, headers, body, request_ids, heads, expired = row
        if stored_hash is None or expired:
            if not held:
                return Claim("in_progress")
            return Claim("new", lease=self._insert(conn, names, request_hash))
        if stored_hash != request_hash:
            return Claim("mismatch")
        if state == "done":
            return Claim("replay", StoredResponse(status, dict(headers or {}), bytes(body or b"")))
        if not held or not self._settled(conn, now):
            return Claim("in_progress")
        taken = conn.execute(TAKE_OVER, names).fetchone()
        assert taken is not None
        orphan = Orphan(tuple(request_ids), {log: int(at) for log, at in (heads or {}).items()})
        return Claim("taken_over", lease=Lease(principal, key, int(taken[0]), conn), orphan=orphan)

    def _insert(self, conn: Connection[Any], names: dict[str, str], request_hash: str) -> Lease:
        params = {
            **names,
            "hash": request_hash,
            "logs": list(self._logs),
            "tables": list(self._logs.values()),
        }
        row = conn.execute(CLAIM, params).fetchone()
        assert row is not None
        return Lease(names["principal"], names["key"], int(row[0]), conn)

    def _settled(self, conn: Connection[Any], since: datetime) -> bool:
        """Whether every event-store transaction open at since has ended, within the bound."""
        deadline = time.monotonic() + self._settle_seconds
        while True:
            row = conn.execute(APPENDS_OPEN, (EVENT_STORE_APPLICATION, since)).fetchone()
            if row is not None and row[0] == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(SETTLE_POLL_SECONDS)

    def _end(self, lease: Lease, statement: str, params: tuple[Any, ...]) -> None:
        """Run statement on the key with the lease's token, and end the lease; on another
        connection if the lease's own was lost (the token still fences it)."""
        fenced = (*params, lease.principal, lease.key, lease.token)
        try:
            if lease.conn.closed:
                with self._pool.connection() as conn:
                    conn.execute(statement, fenced)
            else:
                lease.conn.execute(statement, fenced)
        finally:
            self._give_back(lease.conn)

    def _give_back(self, conn: Connection[Any]) -> None:
        """Unlock what the connection holds and return it to the pool (closed if that fails)."""
        if not conn.closed:
            try:
                conn.execute("SELECT pg_advisory_unlock_all()")
            except psycopg.Error:
                conn.close()
        self._pool.putconn(conn)
