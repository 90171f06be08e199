"""Personal data stored plain, before sealing was on, sealed in place after the fact.

Events written while sealing was off (or before it shipped) hold personal data in plain
text, which erasing a key cannot reach. seal_legacy rewrites those rows of one PostgreSQL log,
one transaction per stream: each plain personal path is sealed under its person's key (or
replaced by ERASED if the person is erased already), the log's hash chain is recomputed from
the first rewritten position, and a signed rewrite record (infra.audit.rewrites) says which
positions were rewritten and why, so that `audit verify` passes and reports it. Appends to
the log wait meanwhile (its table lock), and so do chain reads (checkpoints, verification).
Decoded events are unchanged, so views, figures and rebuilds are too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from infra.audit.postgres_chain import ChainTable
from infra.audit.rewrites import Rewrite
from infra.personal.mapper import ENVELOPE, PersonalDataMapper

Sign = Callable[[Rewrite], Rewrite]
"""Signs a rewrite record with the checkpoints' key."""


@dataclass(frozen=True)
class LegacyLog:
    """One PostgreSQL log to seal: its connections, schema and table, and its mapper."""

    name: str
    connect: Callable[[], Any]
    schema: str
    table: str
    mapper: PersonalDataMapper


def seal_legacy(
    log: LegacyLog, sign: Sign, reason: str, now: str, persons: Iterable[str] | None = None
) -> list[Rewrite]:
    """Seal the log's plain personal data, one transaction per stream (only the streams
    naming one of persons, when given); the rewrite records made."""
    mapper = log.mapper
    if mapper.compressor is not None or mapper.cipher is not None:
        raise ValueError("seal-legacy reads plain JSON states: no compressor or cipher")
    topics = [get_topic(cls) for cls in mapper.policy]
    events = Identifier(log.schema, log.table)
    chain = ChainTable(log.schema, log.table)
    plain = SQL("topic = ANY(%s) AND position(%s::bytea IN state) = 0")
    marker = f'"{ENVELOPE}"'.encode()
    with log.connect() as conn, conn.cursor(row_factory=tuple_row) as curs:
        streams = [
            row[0]
            for row in curs.execute(
                SQL(
                    "SELECT originator_id FROM {} WHERE {} GROUP BY originator_id "
                    "ORDER BY min(notification_id)"
                ).format(events, plain),
                (topics, marker),
            )
        ]
    wanted = None if persons is None else set(persons)
    rewrites = []
    for stream in streams:
        with log.connect() as conn:
            rewrite = _seal_stream(
                conn, log, chain, stream, (topics, marker), wanted, sign, reason, now
            )
        if rewrite is not None:
            rewrites.append(rewrite)
    return rewrites


def _seal_stream(
    conn: psycopg.Connection[Any],
    log: LegacyLog,
    chain: ChainTable,
    stream: Any,
    plain: tuple[list[str], bytes],
    wanted: set[str] | None,
    sign: Sign,
    reason: str,
    now: str,
) -> Rewrite | None:
    events = Identifier(log.schema, log.table)
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
        curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(chain.qualified))
        rows = curs.execute(
            SQL(
                "SELECT notification_id, topic, state FROM {} WHERE originator_id = %s AND "
                "topic = ANY(%s) AND position(%s::bytea IN state) = 0 ORDER BY notification_id"
            ).format(events),
            (stream, *plain),
        ).fetchall()
        rewritten = []
        for position, topic, state in rows:
            sealed = _sealed_state(log.mapper, stream, topic, bytes(state), wanted)
            if sealed is not None:
                curs.execute(
                    SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(events),
                    (sealed, position),
                )
                rewritten.append(int(position))
        if not rewritten:
            return None
        head = chain.rechain(conn, rewritten[0])
        rewrite = sign(
            Rewrite(
                log.name,
                chain.next_rewrite(conn),
                rewritten[0],
                head.position,
                head.hash,
                tuple(rewritten),
                reason,
                now,
            )
        )
        chain.record_rewrite(conn, rewrite)
    return rewrite


def _sealed_state(
    mapper: PersonalDataMapper, stream: Any, topic: str, state: bytes, wanted: set[str] | None
) -> bytes | None:
    groups = mapper.policy.get(resolve_topic(topic))
    if not groups:
        return None
    decoded: dict[str, Any] = mapper.transcoder.decode(state)
    decoded["originator_id"] = stream
    if wanted is not None and not any(str(decoded[g.person]) in wanted for g in groups):
        return None
    if not mapper.seal_state(decoded, groups):
        return None
    del decoded["originator_id"]
    encoded: bytes = mapper.transcoder.encode(decoded)
    return encoded
