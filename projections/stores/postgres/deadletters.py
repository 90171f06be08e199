"""The dead letters: the failures of every projection and worker, kept in PostgreSQL.

Every process that follows logs records here the events it parked or stopped at, and the
bugs it stopped on, whatever store its own view is in: so a failure outlives the process
that met it, `marketplace status` and `marketplace deadletters` read it without the process
running, and the count of attempts is there before the process exits. One row per
projection, log and position: meeting the same failure again adds an attempt and keeps the
latest error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row
from psycopg_pool import ConnectionPool

from infra.postgres_pool import postgres_pool
from infra.schema_lock import lock_schema_in_transaction
from projections.failures import Failed, FailureSite, State
from projections.stores.postgres.unit import TRANSIENT

DEAD_LETTERS_SQL = """
CREATE TABLE IF NOT EXISTS projection_dead_letters (
    id bigserial PRIMARY KEY,
    projection text NOT NULL,
    log text NOT NULL,
    position bigint NOT NULL,
    event_id text NOT NULL,
    stream text NOT NULL,
    topic text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    error text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    resolved_by text,
    reason text,
    resolved_at timestamptz,
    UNIQUE (projection, log, position)
)
"""
RECORD_SQL = """
INSERT INTO projection_dead_letters
    (projection, log, position, event_id, stream, topic, kind, state, error)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (projection, log, position) DO UPDATE SET
    event_id = EXCLUDED.event_id, stream = EXCLUDED.stream, topic = EXCLUDED.topic,
    kind = EXCLUDED.kind, state = EXCLUDED.state, error = EXCLUDED.error,
    attempts = projection_dead_letters.attempts + 1, last_seen = now()
"""
SELECT = sql.SQL(
    "SELECT id, projection, log, position, event_id, stream, topic, kind, state, error, "
    "attempts, first_seen, last_seen, resolved_by, reason, resolved_at "
    "FROM projection_dead_letters WHERE {} ORDER BY id"
)


@dataclass(frozen=True)
class DeadLetter(FailureSite):
    """One recorded failure: where, which event, why, how often, and how it was resolved."""

    id: int
    kind: str
    state: str
    error: str
    attempts: int
    first_seen: datetime
    last_seen: datetime
    resolved_by: str | None
    reason: str | None
    resolved_at: datetime | None


class PostgresDeadLetters:
    """The dead-letter table on a pool: what a worker records, what the CLI and status read."""

    transient_errors = TRANSIENT

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def create(self) -> None:
        """Create the table if missing (one process at a time)."""
        with self.pool.connection() as conn, conn.transaction():
            lock_schema_in_transaction(conn)
            conn.execute(DEAD_LETTERS_SQL)

    def record(self, failed: Failed, state: State) -> None:
        """Record the failure in that state, or add an attempt to its row with the new error."""
        where = (failed.projection, failed.log, failed.position)
        what = (failed.event_id, failed.stream, failed.topic, failed.kind.value, state.value)
        with self.pool.connection() as conn:
            conn.execute(RECORD_SQL, (*where, *what, failed.error))

    def skipped(self, projection: str, log: str, position: int) -> bool:
        """Whether the event at that position of the log was skipped for the projection."""
        return bool(
            self._rows(
                "projection = %s AND log = %s AND position = %s AND state = %s",
                (projection, log, position, State.SKIPPED.value),
            )
        )

    def stopped(self, projection: str) -> list[tuple[str, int]]:
        """The (log, position) of each failure the projection is stopped at."""
        rows = self._rows("projection = %s AND state = %s", (projection, State.STOPPED.value))
        return [(row.log, row.position) for row in rows]

    def passed(self, projection: str, log: str, position: int) -> None:
        """Mark the projection's stops up to position in log, and those outside logs, retried."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_dead_letters SET state = %(retried)s, "
                "resolved_by = %(projection)s, reason = 'passed by the projection', "
                "resolved_at = now() WHERE projection = %(projection)s AND state = %(stopped)s "
                "AND (log = '' OR (log = %(log)s AND position <= %(position)s))",
                {
                    "retried": State.RETRIED.value,
                    "stopped": State.STOPPED.value,
                    "projection": projection,
                    "log": log,
                    "position": position,
                },
            )

    def parked_count(self, projection: str) -> int:
        """How many of the projection's events are parked."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM projection_dead_letters WHERE projection = %s AND state = %s",
                (projection, State.PARKED.value),
            ).fetchone()
        return int(row[0]) if row else 0

    def letters(
        self, projection: str | None = None, states: Sequence[State] = ()
    ) -> list[DeadLetter]:
        """The rows of the projection (every one if None) in those states (any if none)."""
        where: list[str] = ["TRUE"]
        args: list[object] = []
        if projection is not None:
            where.append("projection = %s")
            args.append(projection)
        if states:
            where.append("state = ANY(%s)")
            args.append([state.value for state in states])
        return self._rows(" AND ".join(where), tuple(args))

    def letter(self, id: int) -> DeadLetter | None:
        """The row with that id, if any."""
        rows = self._rows("id = %s", (id,))
        return rows[0] if rows else None

    def resolve(self, id: int, state: State, actor: str, reason: str) -> None:
        """Close the row: retried or skipped, by whom and why."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_dead_letters SET state = %s, resolved_by = %s, reason = %s, "
                "resolved_at = now() WHERE id = %s",
                (state.value, actor, reason, id),
            )

    def failed_again(self, id: int, error: str) -> None:
        """A retry of the row failed: one more attempt, and its error."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE projection_dead_letters SET attempts = attempts + 1, error = %s, "
                "last_seen = now() WHERE id = %s",
                (error, id),
            )

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[DeadLetter]:
        query = SELECT.format(sql.SQL(where))
        with self.pool.connection() as conn, conn.cursor(row_factory=class_row(DeadLetter)) as cur:
            return cur.execute(query, args).fetchall()


@contextmanager
def dead_letters_at(url: str, connect_timeout: float = 2) -> Iterator[PostgresDeadLetters]:
    """The dead letters in the PostgreSQL at url (created if missing), on a pool of one."""
    with postgres_pool(url, max_size=1, connect_timeout=connect_timeout) as pool:
        letters = PostgresDeadLetters(pool)
        letters.create()
        yield letters
