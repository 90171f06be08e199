"""The audit reader on PostgreSQL: each log is one table (`<log>_events`) of the event store.

Filters on the payload (actor, time) are evaluated by the server on the stored JSON, so a
page crosses the network once and only what matches does; a trace reads the correlation
tables the appends keep (infra.audit.postgres_correlation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal
from psycopg_pool import ConnectionPool

from auditapi.events import EventDecoder, Recorded
from auditapi.reader import LogQuery, StreamQuery, TracePoint
from infra.audit.postgres_chain import ChainTable
from infra.audit.postgres_correlation import CorrelationTable

DOCUMENT = "convert_from(state, 'UTF8')::jsonb"
COLUMNS = SQL("notification_id, originator_id, originator_version, topic, state")


def table_of(log: str) -> str:
    """The table the library gives a log (eventsourcing.postgres: the lower-cased name)."""
    return f"{log.lower()}_events"


class PostgresEventReader:
    """Reads the logs of one schema through pool; tables maps each log to its table."""

    def __init__(
        self,
        pool: ConnectionPool,
        schema: str,
        tables: Mapping[str, str],
        decoder: EventDecoder | None = None,
    ) -> None:
        self.pool = pool
        self.logs = tuple(tables)
        self.decoder = decoder or EventDecoder()
        self._tables = {log: Identifier(schema, table) for log, table in tables.items()}
        self._chains = {log: ChainTable(schema, table) for log, table in tables.items()}
        self._correlations = {log: CorrelationTable(schema, table) for log, table in tables.items()}

    def stream(self, stream_id: UUID, query: StreamQuery, limit: int) -> list[Recorded]:
        """Up to limit events of one aggregate that match query, in version order."""
        where = [SQL("originator_id = %(id)s"), SQL("originator_version > %(after)s")]
        if query.to_version is not None:
            where.append(SQL("originator_version <= %(to)s"))
        after, to = query.after_version, query.to_version
        params = {"id": stream_id, "after": after, "to": to, "limit": limit}
        return self._union(where, SQL("originator_version"), params)

    def log(self, name: str, query: LogQuery, limit: int) -> list[Recorded]:
        """Up to limit events of the named log matching query, in position order."""
        where, params = _filters(query)
        statement = SQL(
            "SELECT {log}, {columns} FROM {table} WHERE {where} "
            "ORDER BY notification_id LIMIT %(limit)s"
        ).format(
            log=Literal(name),
            columns=COLUMNS,
            table=self._tables[name],
            where=SQL(" AND ").join(where),
        )
        return self._fetch(statement, {**params, "limit": limit})

    def head(self, name: str) -> int:
        """The position of the named log's last event (0 when empty)."""
        statement = SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            self._tables[name]
        )
        with self.pool.connection() as conn:
            row = conn.execute(statement).fetchone()
        return int(row[0]) if row else 0

    def chain_hashes(self, log: str, positions: Sequence[int]) -> dict[int, str]:
        """The chain hash (hex) of each event of the log at positions, as the recorder chained
        it in the append's transaction (infra.audit.postgres_chain); none for a log not
        chained yet (no writer has opened it since the upgrade)."""
        chain = self._chains[log]
        if not positions:
            return {}
        with self.pool.connection() as conn:
            if not chain.exists(conn):
                return {}
            return {
                position: digest.hex() for position, digest in chain.hashes(conn, positions).items()
            }

    def correlated(
        self, correlation_id: str, limit: int, after: TracePoint | None = None
    ) -> list[Recorded]:
        """Up to limit events of every log that carry this correlation id, after the point
        given, in trace order: read through each log's correlation table (an index scan of
        the flow's rows, infra.audit.postgres_correlation), never a scan of the logs. A log
        no writer has opened since the upgrade has no such table yet, and adds nothing."""
        with self.pool.connection() as conn:
            logs = [log for log, table in self._correlations.items() if table.exists(conn)]
            if not logs:
                return []
            statement = self.trace_statement(logs, after)
            params = {
                "correlation": correlation_id,
                "limit": limit,
                "at": after and after.at,
                "position": after and after.position,
            }
            with conn.cursor(row_factory=tuple_row) as cursor:
                rows = cursor.execute(statement, params).fetchall()
        return [Recorded(row[0], row[1], StoredEvent(*row[2:6])) for row in rows]

    def trace_statement(self, logs: Sequence[str], after: TracePoint | None) -> Composed:
        """The union that reads one page of a trace from the correlation tables of logs."""
        selects = []
        for log in logs:
            where = [SQL("c.correlation_id = %(correlation)s")]
            if after is not None:
                where.append(_after_point(log, after.log))
            selects.append(
                SQL(
                    "SELECT {log} AS log, e.notification_id, e.originator_id, "
                    "e.originator_version, e.topic, e.state, c.at FROM {correlation} c "
                    "JOIN {table} e ON e.notification_id = c.notification_id WHERE {where}"
                ).format(
                    log=Literal(log),
                    correlation=self._correlations[log].qualified,
                    table=self._tables[log],
                    where=SQL(" AND ").join(where),
                )
            )
        return SQL(
            "SELECT * FROM ({union}) AS found "
            'ORDER BY at, log COLLATE "C", notification_id LIMIT %(limit)s'
        ).format(union=SQL(" UNION ALL ").join(selects))

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()

    def _union(
        self, where: Sequence[Composable], order: Composable, params: dict[str, Any]
    ) -> list[Recorded]:
        selects = [
            SQL("SELECT {log} AS log, {columns} FROM {table} WHERE {where}").format(
                log=Literal(log), columns=COLUMNS, table=table, where=SQL(" AND ").join(where)
            )
            for log, table in self._tables.items()
        ]
        statement = SQL("SELECT * FROM ({union}) AS found ORDER BY {order} LIMIT %(limit)s").format(
            union=SQL(" UNION ALL ").join(selects), order=order
        )
        return self._fetch(statement, params)

    def _fetch(self, statement: Composed, params: dict[str, Any]) -> list[Recorded]:
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(statement, params).fetchall()
        return [Recorded(row[0], row[1], StoredEvent(*row[2:])) for row in rows]


def _after_point(log: str, after_log: str) -> SQL:
    """The condition on one log's rows for coming after a point in (time, log, position)
    order, in a form the correlation table's index serves."""
    if log == after_log:
        return SQL("(c.at, c.notification_id) > (%(at)s, %(position)s)")
    return SQL("c.at >= %(at)s") if log > after_log else SQL("c.at > %(at)s")


def _filters(query: LogQuery) -> tuple[list[Composable], dict[str, Any]]:
    where: list[Composable] = [SQL("notification_id > %(after)s")]
    params: dict[str, Any] = {"after": query.after}
    conditions: list[tuple[object, str]] = [
        (query.until_position, "notification_id <= %(until_position)s"),
        (query.event_type, "split_part(topic, ':', 2) = %(event_type)s"),
        (query.actor, DOCUMENT + " #>> '{meta,actor}' = %(actor)s"),
        (query.since, "(" + DOCUMENT + " #>> '{timestamp,_data_}')::timestamptz >= %(since)s"),
        (query.until, "(" + DOCUMENT + " #>> '{timestamp,_data_}')::timestamptz < %(until)s"),
        (query.stream_id, "originator_id = %(stream_id)s"),
    ]
    for value, condition in conditions:
        if value is not None:
            where.append(SQL(condition))
    params.update(
        until_position=query.until_position,
        event_type=query.event_type,
        actor=query.actor,
        since=query.since,
        until=query.until,
        stream_id=query.stream_id,
    )
    return where, params
