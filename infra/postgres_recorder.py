"""The library's PostgreSQL persistence, with this platform's connections and a leaner insert.

The recorder keeps everything that makes the log safe to follow (the table lock in every
append transaction, so positions become visible in commit order), and only changes how rows
travel: four binary arrays instead of an array of composite values dumped as text. Each
append also extends the log's hash chain (infra.audit), in the same statement.
The gap-detector contract test runs against this class.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    EventStore,
    Mapper,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType
from psycopg.sql import SQL, Composable, Composed, Identifier

from infra.audit.chain import digest
from infra.audit.postgres_chain import ChainTable
from infra.audit.postgres_correlation import CorrelationTable
from infra.personal.append import SealingEventStore
from infra.personal.factory import POLICY, PersonalDataFactory
from infra.personal.keys import KeyStore, PostgresKeyStore, create_key_table, new_keys_insert
from infra.personal.mapper import PersonalDataMapper
from infra.postgres_pool import (
    EVENT_STORE_APPLICATION,
    MIN_CONNECT_TIMEOUT_SECONDS,
    STARTUP_TIMEOUT_SECONDS,
    checking_the_rest,
    connection_kwargs,
    deadline_connection,
    without_call_timeout,
)
from infra.schema_lock import schema_locked

CALL_TIMEOUT = "POSTGRES_CALL_TIMEOUT"
"""Environment key: seconds one event-store call may take, waiting for a pooled connection
and then for the server (see DeadlineConnection); unset, calls are not bounded."""

_insert_once = inspect.unwrap(PostgresApplicationRecorder.insert_events)
_select_events_once = inspect.unwrap(PostgresApplicationRecorder.select_events)
_max_notification_id_once = inspect.unwrap(PostgresApplicationRecorder.max_notification_id)


@contextmanager
def creating_schema(datastore: PostgresDatastore) -> Iterator[None]:
    """Hold the schema lock, with no call timeout, while the block creates tables."""
    pool = datastore.pool
    conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
    kwargs = pool.kwargs() if callable(pool.kwargs) else pool.kwargs or {}
    with schema_locked(conninfo, **kwargs), without_call_timeout():
        yield


class SnapshotsPostgresRecorder(PostgresAggregateRecorder):
    """The library's recorder of snapshots, whose table is created one process at a time."""

    def create_table(self) -> None:
        """Create the snapshots table under the schema lock (see creating_schema)."""
        with creating_schema(self.datastore):
            super().create_table()


class MarketplacePostgresFactory(PersonalDataFactory[PostgresTrackingRecorder], PostgresFactory):
    """The library's PostgreSQL factory, with our pools' ways (infra.postgres_pool).

    Its connections carry our libpq parameters (connect timeout, TCP keepalives and user
    timeout) and are named EVENT_STORE_APPLICATION; with pre-ping, the first broken connection
    leaving the pool has every idle one checked (checking_the_rest), since appends are not
    retried (see the recorder); and when the environment names a CALL_TIMEOUT, it bounds each
    call and each wait for a connection. Snapshot tables are created under the schema lock.
    """

    aggregate_recorder_class = SnapshotsPostgresRecorder
    keys_in_append = True

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)
        connect = self.env.get(self.POSTGRES_CONNECT_TIMEOUT)
        pool.kwargs.update(connection_kwargs(float(connect or MIN_CONNECT_TIMEOUT_SECONDS)))
        pool.kwargs["application_name"] = EVENT_STORE_APPLICATION
        if self.datastore.pre_ping:
            pool._check = checking_the_rest([pool])  # the pool takes its check only when made
        seconds = self.env.get(CALL_TIMEOUT)
        if seconds:
            pool.connection_class = deadline_connection(float(seconds))
            pool.timeout = float(seconds)

    def application_recorder(self) -> Any:
        """The library's recorder; with sealed personal data, the key table made beside it."""
        recorder = super().application_recorder()
        if self.env.get(POLICY) and self.env_create_table():
            with creating_schema(self.datastore), self.datastore.get_connection() as conn:
                create_key_table(conn, self.datastore.schema)
        return recorder

    def event_store(
        self, mapper: Mapper[Any] | None = None, recorder: AggregateRecorder | None = None
    ) -> EventStore[Any]:
        """The library's event store; with sealed personal data, one that stores new keys."""
        if isinstance(mapper, PersonalDataMapper):
            return SealingEventStore(mapper, recorder or self.application_recorder())
        return super().event_store(mapper, recorder)

    def key_store(self) -> KeyStore:
        """The data keys, in the event store's own schema and pool (see beside_events)."""
        return PostgresKeyStore(
            self.datastore.get_connection, self.datastore.schema, beside_events=True
        )


class ArrayInsertPostgresRecorder(PostgresApplicationRecorder):
    """Appends events as parallel uuid/bigint/text/bytea arrays in binary format.

    An append is tried once. The library retries a failed one, but an append whose
    connection failed after its COMMIT was sent may have committed: the retry would then
    conflict with its own events, and the write path would decide the change again on top
    of them (applied twice, answered once). The caller gets the error instead: a request
    its 503, a worker its transient retry of a batch it runs idempotently.

    On bounded connections (a CALL_TIMEOUT), reads are tried once too: the request answers
    503 within its bound rather than retrying ten times past it.

    Every append chains its events (infra.audit.chain): the statement that inserts them also
    links them after the chain's head, in SQL, under the table lock. BEGIN, the lock, the
    statement and COMMIT travel in one pipeline, one round trip: the lock is held while the
    server inserts and flushes the commit, never while this process waits for its turn to
    run (a lock held across round trips would make every other process's appends wait on
    this one's scheduling). The events' digests are computed before, outside the lock.
    The same statement indexes the events by correlation id (infra.audit.postgres_correlation).
    New persons' data keys (infra.personal) are inserted by the same statement, so they commit
    or roll back with the events: a separate statement in the pipeline, before the lock, was
    measured to cost more client CPU per append (about 80 µs) than it spared the lock (about
    8 µs a key). Statements are rendered once, not at each append.
    The database's insert function (POSTGRES_ENABLE_DB_FUNCTIONS) would bypass both the lock
    and the chain; the platform never enables it.
    """

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        connection_class = datastore.pool.connection_class  # a class, or a generic alias
        self.bounded = getattr(connection_class, "call_timeout", None) is not None
        self.chain = ChainTable(self.datastore.schema, self.events_table_name)
        self.correlation = CorrelationTable(self.datastore.schema, self.events_table_name)
        insert = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=Identifier(self.datastore.originator_id_type),
        )
        kept = self.correlation.kept_by("numbered")
        made_keys = SQL("made_keys AS ({})").format(new_keys_insert(self.datastore.schema))
        self.append_statement: bytes | Composed = self.chain.appending(insert, kept).as_bytes(None)
        self.keyed_append_statement = self.chain.appending(insert, kept, made_keys).as_bytes(None)
        self.lock_table_statements = [
            q.as_bytes(None) if isinstance(q, Composable) else q for q in self.lock_table_statements
        ]
        notify = SQL("NOTIFY {}").format(Identifier(self.channel_name))
        self.notify_statement = notify.as_bytes(None)

    def create_table(self) -> None:
        """Create the log's table, type, index and function, one process at a time (at
        startup: with no call timeout, as it may wait behind other processes' DDL); then
        its chain and correlation tables, over the events already there (once: the upgrade)."""
        if self.bounded:  # its connections ready before its bounded checkouts begin
            self.datastore.pool.open(wait=True, timeout=STARTUP_TIMEOUT_SECONDS)
        with creating_schema(self.datastore):
            super().create_table()
            with self.datastore.get_connection() as conn:
                self.chain.create_and_backfill(conn)
                self.correlation.create_and_backfill(conn)

    def chain_hashes(self, positions: Sequence[int]) -> dict[int, bytes]:
        """The chain hash recorded for each of positions that has an event."""
        with self.datastore.get_connection() as conn:
            return self.chain.hashes(conn, positions)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append the events in one transaction, once, in one round trip (see the class);
        with the database's insert function (never in the platform), as the library does."""
        if not stored_events or self.datastore.enable_db_functions:
            ids: Sequence[int] | None = _insert_once(self, stored_events, **kwargs)
            return ids
        parameters = self.append_parameters(stored_events)
        statement = self.append_statement
        new_keys = [k for e in stored_events for k in getattr(e, "new_keys", ())]
        if new_keys:  # stored in the same statement: they commit or roll back with the events
            statement = self.keyed_append_statement
            parameters += ([p for p, _ in new_keys], [k for _, k in new_keys])
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            with conn.pipeline() as pipeline:
                with conn.transaction():
                    self._lock_table(curs)
                    curs.execute(self.notify_statement)
                    curs.execute(statement, parameters, prepare=True, binary=True)
                pipeline.sync()
            rows = curs.fetchall()
        if len(rows) != len(stored_events):
            raise ProgrammingError(f"got {len(rows)} positions for {len(stored_events)} events")
        return [row["notification_id"] for row in rows]

    def append_parameters(self, events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
        """The append statement's parameters: the events' columns, their digests, then their
        correlation ids and times."""
        return (
            [e.originator_id for e in events],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            [digest(e.originator_id, e.originator_version, e.topic, e.state) for e in events],
            *self.correlation.keys([e.state for e in events]),
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """One aggregate's events; tried once on bounded connections."""
        if not self.bounded:
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        events: Sequence[StoredEvent] = _select_events_once(
            self, originator_id, gt=gt, lte=lte, desc=desc, limit=limit
        )
        return events

    def max_notification_id(self) -> int | None:
        """The log's last position; tried once on bounded connections."""
        if self.bounded:
            last: int | None = _max_notification_id_once(self)
            return last
        return super().max_notification_id()
