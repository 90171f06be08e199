"""Where a PostgreSQL log keeps its chain: a table beside the events table, one row per event.

`<events table>_chain` holds each event's position, the position before it, its digest and
its hash (infra.audit.chain). Rows are written by the recorder in the transaction of the
append, after the table lock that serialises appends (so the previous hash is the last
committed one), and by the backfill once, when the table is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier

from infra.audit.chain import Head, Link, extend
from infra.audit.verify import Event, Row

BACKFILL_BATCH = 5000
READ_BATCH = 5000


class ChainTable:
    """The chain table of one events table, and the statements that use it."""

    def __init__(self, schema: str, events_table: str) -> None:
        self.schema, self.events_table = schema, events_table
        self.name = f"{events_table}_chain"
        self.qualified = Identifier(schema, self.name)
        self.events = Identifier(schema, events_table)
        self.create = SQL(
            "CREATE TABLE {} (notification_id bigint PRIMARY KEY, previous_id bigint NOT NULL, "
            "digest bytea NOT NULL, hash bytea NOT NULL)"
        ).format(self.qualified)
        self.head = SQL(
            "SELECT notification_id, hash FROM {} ORDER BY notification_id DESC LIMIT 1"
        ).format(self.qualified)
        self.insert = SQL(
            "INSERT INTO {} (notification_id, previous_id, digest, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[])"
        ).format(self.qualified)

    def chained(self, insert_events: Composed, *also: Composable) -> Composed:
        """An events insert (a CTE `ins`, RETURNING notification_id) that also answers, on
        each returned row in position order, the chain's head as it was before the insert;
        also: further CTEs to run with it (on `ins`)."""
        ctes = SQL("").join(SQL(", ") + cte for cte in also)
        return SQL(
            "WITH head AS ({head}), ins AS ({insert}){ctes} "
            "SELECT ins.notification_id, head.notification_id AS head_id, head.hash AS head_hash "
            "FROM ins LEFT JOIN head ON true ORDER BY ins.notification_id"
        ).format(head=self.head, insert=insert_events, ctes=ctes)

    @staticmethod
    def rows(links: Sequence[Link]) -> tuple[list[Any], ...]:
        """The insert's parameters for links."""
        return (
            [link.position for link in links],
            [link.previous for link in links],
            [link.digest for link in links],
            [link.hash for link in links],
        )

    def exists(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether the chain table is there."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SELECT to_regclass(%s)", (f'"{self.schema}"."{self.name}"',))
            row = curs.fetchone()
        return row is not None and row[0] is not None

    def create_and_backfill(self, conn: psycopg.Connection[Any]) -> int:
        """Create the chain table and chain the events already in the log, once: a no-op
        when the table exists (a later backfill would chain rows inserted by hand). The
        number of events chained. Appends wait meanwhile (the events table is locked)."""
        with conn.transaction():
            if self.exists(conn):
                return 0
            conn.execute(self.create)
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.events))
            return self._backfill(conn)

    def _backfill(self, conn: psycopg.Connection[Any]) -> int:
        head, count = Head(), 0
        select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} ORDER BY notification_id"
        ).format(self.events)
        reading = conn.cursor(name="chain_backfill", row_factory=tuple_row)
        with reading, conn.cursor() as writing:
            reading.execute(select)
            while batch := reading.fetchmany(BACKFILL_BATCH):
                links = extend(head, [r[0] for r in batch], (r[1:] for r in batch))
                writing.execute(self.insert, self.rows(links))
                head, count = Head(links[-1].position, links[-1].hash), count + len(links)
        return count

    def hashes(self, conn: psycopg.Connection[Any], positions: Iterable[int]) -> dict[int, bytes]:
        """The chain hash recorded for each of positions that has one."""
        select = SQL("SELECT notification_id, hash FROM {} WHERE notification_id = ANY(%s)")
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(select.format(self.qualified), (list(positions),))
            rows = curs.fetchall()
        return {int(row[0]): bytes(row[1]) for row in rows}

    def walk(self, conn: psycopg.Connection[Any]) -> Iterator[Row]:
        """Every position of the log in order, with its event and link (a full outer join),
        read in batches through a server-side cursor (in the caller's transaction)."""
        select = SQL(
            "SELECT notification_id, e.originator_id, e.originator_version, e.topic, e.state, "
            "c.previous_id, c.digest, c.hash FROM {} e FULL OUTER JOIN {} c "
            "USING (notification_id) ORDER BY notification_id"
        ).format(self.events, self.qualified)
        with conn.cursor(name="chain_walk", row_factory=tuple_row) as curs:
            curs.itersize = READ_BATCH
            curs.execute(select)
            for p, stream, version, topic, state, previous, digest, hash_ in curs:
                event = Event(stream, version, topic, bytes(state)) if topic is not None else None
                link = Link(p, previous, bytes(digest), bytes(hash_)) if hash_ is not None else None
                yield Row(p, event, link)

    def find_digest(self, conn: psycopg.Connection[Any], digest: bytes) -> int | None:
        """The position of a link with this digest, if any (a scan: used once, at a break)."""
        select = SQL("SELECT notification_id FROM {} WHERE digest = %s LIMIT 1")
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(select.format(self.qualified), (digest,))
            row = curs.fetchone()
        return None if row is None else int(row[0])

    def head_link(self, conn: psycopg.Connection[Any]) -> Head:
        """The chain's last link (Head() when the log is empty)."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.head)
            row = curs.fetchone()
        return Head() if row is None else Head(int(row[0]), bytes(row[1]))
