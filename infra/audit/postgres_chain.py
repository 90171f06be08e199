"""Where a PostgreSQL log keeps its chain: a table beside the events table, one row per event.

`<events table>_chain` holds each event's position, the position before it, its digest and
its hash (infra.audit.chain). Rows are written by the recorder in the statement that inserts
the events, after the table lock that serialises appends (so the previous hash is the last
committed one), and by the backfill once, when the table is created. The appending statement
computes the links in SQL (sha256 of the previous hash, the position as 8 big-endian bytes,
the digest), exactly as infra.audit.chain.link_hash does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from infra.audit.chain import GENESIS, NO_POSITION, Head, Link, extend
from infra.audit.rewrites import Rewrite
from infra.audit.side_table import SideTable
from infra.audit.verify import Event, Row
from infra.schema_lock import lock_schema_in_transaction

BACKFILL_BATCH = 5000
READ_BATCH = 5000


class ChainTable(SideTable):
    """The chain table of one events table, and the statements that use it."""

    suffix = "chain"

    def __init__(self, schema: str, events_table: str) -> None:
        super().__init__(schema, events_table)
        self.create = SQL(
            "CREATE TABLE {} (notification_id bigint PRIMARY KEY, previous_id bigint NOT NULL, "
            "digest bytea NOT NULL, hash bytea NOT NULL)"
        ).format(self.qualified)
        self.head = SQL(
            "SELECT notification_id, hash FROM {} ORDER BY notification_id DESC LIMIT 1"
        ).format(self.qualified)
        self.rewrites = Identifier(schema, f"{events_table}_rewrites")
        self.insert = SQL(
            "INSERT INTO {} (notification_id, previous_id, digest, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[])"
        ).format(self.qualified)

    def appending(self, insert_events: Composed, *also: Composable) -> Composed:
        """One statement that runs insert_events (a CTE `ins`, RETURNING notification_id,
        from arrays whose rows keep their order) and links the rows it inserted after the
        chain's head, in SQL; it answers their positions in order. Its last parameter is the
        events' digests (infra.audit.chain.digest), computed before the append takes its
        lock. also: further data-modifying CTEs to run in it (on `ins` or `numbered`), whose
        parameters follow the digests."""
        return SQL(
            "WITH RECURSIVE head AS ({head}), ins AS ({insert}), "
            "digests AS (SELECT %s::bytea[] AS d), "
            "numbered AS (SELECT notification_id, "
            "row_number() OVER (ORDER BY notification_id) AS n FROM ins), "
            "links (n, notification_id, previous_id, digest, hash) AS ("
            "SELECT x.n, x.notification_id, coalesce(h.notification_id, {none}), d.d[1], "
            "sha256(coalesce(h.hash, {genesis}) || int8send(x.notification_id) || d.d[1]) "
            "FROM numbered x CROSS JOIN digests d LEFT JOIN head h ON true WHERE x.n = 1 "
            "UNION ALL "
            "SELECT x.n, x.notification_id, l.notification_id, d.d[x.n], "
            "sha256(l.hash || int8send(x.notification_id) || d.d[x.n]) "
            "FROM links l JOIN numbered x ON x.n = l.n + 1 CROSS JOIN digests d), "
            "linked AS (INSERT INTO {chain} (notification_id, previous_id, digest, hash) "
            "SELECT notification_id, previous_id, digest, hash FROM links "
            "RETURNING notification_id){also} "
            "SELECT notification_id FROM linked ORDER BY notification_id"
        ).format(
            also=SQL("").join(SQL(", ") + cte for cte in also),
            head=self.head,
            insert=insert_events,
            chain=self.qualified,
            none=Literal(NO_POSITION),
            genesis=Literal(GENESIS),
        )

    @staticmethod
    def rows(links: Sequence[Link]) -> tuple[list[Any], ...]:
        """The insert's parameters for links."""
        return (
            [link.position for link in links],
            [link.previous for link in links],
            [link.digest for link in links],
            [link.hash for link in links],
        )

    def create_and_backfill(self, conn: psycopg.Connection[Any]) -> int:
        """Create the chain table and chain the events already in the log, once (SideTable;
        a later backfill would chain rows inserted by hand)."""
        return self.create_once(conn, self.create, self._backfill)

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

    def rechain(self, conn: psycopg.Connection[Any], start: int) -> Head:
        """Recompute every link from position start to the head (the events table locked by
        the caller's transaction); the new head."""
        before = SQL(
            "SELECT notification_id, hash FROM {} WHERE notification_id < %s "
            "ORDER BY notification_id DESC LIMIT 1"
        ).format(self.qualified)
        select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {} WHERE notification_id >= %s ORDER BY notification_id"
        ).format(self.events)
        update = SQL(
            "UPDATE {} c SET previous_id = u.previous_id, digest = u.digest, hash = u.hash "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[]) "
            "AS u(notification_id, previous_id, digest, hash) "
            "WHERE c.notification_id = u.notification_id"
        ).format(self.qualified)
        with conn.cursor(row_factory=tuple_row) as curs:
            row = curs.execute(before, (start,)).fetchone()
        head = Head() if row is None else Head(int(row[0]), bytes(row[1]))
        reading = conn.cursor(name="chain_rechain", row_factory=tuple_row)
        with reading, conn.cursor() as writing:
            reading.execute(select, (start,))
            while batch := reading.fetchmany(BACKFILL_BATCH):
                links = extend(head, [r[0] for r in batch], (r[1:] for r in batch))
                writing.execute(update, self.rows(links))
                head = Head(links[-1].position, links[-1].hash)
        return head

    def record_rewrite(self, conn: psycopg.Connection[Any], rewrite: Rewrite) -> None:
        """Keep a signed rewrite record beside the chain (its table made the first time)."""
        if not self._has(conn, self.rewrites):
            lock_schema_in_transaction(conn)
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (number bigint PRIMARY KEY, start bigint NOT "
                    "NULL, head bigint NOT NULL, hash bytea NOT NULL, positions bigint[] NOT NULL, "
                    "reason text NOT NULL, done_at text NOT NULL, signature bytea NOT NULL)"
                ).format(self.rewrites)
            )
        conn.execute(
            SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)").format(self.rewrites),
            (
                rewrite.number,
                rewrite.start,
                rewrite.head,
                rewrite.hash,
                list(rewrite.positions),
                rewrite.reason,
                rewrite.done_at,
                rewrite.signature,
            ),
        )

    def next_rewrite(self, conn: psycopg.Connection[Any]) -> int:
        """The number the log's next rewrite record takes."""
        if not self._has(conn, self.rewrites):
            return 1
        select = SQL("SELECT coalesce(max(number), 0) + 1 FROM {}").format(self.rewrites)
        with conn.cursor(row_factory=tuple_row) as curs:
            row = curs.execute(select).fetchone()
        assert row is not None
        return int(row[0])

    def recorded_rewrites(self, conn: psycopg.Connection[Any], log: str) -> list[Rewrite]:
        """The log's rewrite records, in order (none when it was never rewritten)."""
        if not self._has(conn, self.rewrites):
            return []
        select = SQL(
            "SELECT number, start, head, hash, positions, reason, done_at, signature "
            "FROM {} ORDER BY number"
        ).format(self.rewrites)
        with conn.cursor(row_factory=tuple_row) as curs:
            rows = curs.execute(select).fetchall()
        return [
            Rewrite(log, n, s, h, bytes(hh), tuple(p), r, d, bytes(sig))
            for n, s, h, hh, p, r, d, sig in rows
        ]

    def _has(self, conn: psycopg.Connection[Any], table: Identifier) -> bool:
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute("SELECT to_regclass(%s)", (table.as_string(conn),))
            row = curs.fetchone()
        return row is not None and row[0] is not None
