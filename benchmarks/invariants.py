"""Checks, by SQL on the event tables, that every 2xx answer wrote exactly its one event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

# The request id is in the event's audit metadata (ours) or in the item's "ref" (naive).
META_REQUEST_ID = "convert_from(state, 'UTF8')::jsonb -> 'meta' ->> 'request_id'"
NAIVE_REF = "convert_from(state, 'UTF8')::jsonb ->> 'ref'"
EXPECTED_TOPIC = {
    "c": "Cart.ItemAdded",
    "s": "StockItem.StockReceived",
    "n": "Item.Created",
    "r": "Customer.Registered",
}


@dataclass(frozen=True)
class Table:
    """One event table and how to read the request id out of its rows."""

    schema: str
    name: str
    request_id: str = META_REQUEST_ID
    kinds: str = "cs"
    initial_version: int = 0

    @property
    def identifier(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))


@dataclass
class RunCheck:
    """The outcome of one run's check."""

    ok_answers: int
    events: int
    missing: int
    duplicated: int
    unanswered: int
    misplaced: int
    in_flight_bound: int

    @property
    def passed(self) -> bool:
        return (
            self.missing == 0
            and self.duplicated == 0
            and self.misplaced == 0
            and self.unanswered <= self.in_flight_bound
        )

    def describe(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"{verdict}: 2xx={self.ok_answers} events={self.events} "
            f"2xx-without-event={self.missing} duplicated={self.duplicated} "
            f"wrong-table-or-type={self.misplaced} "
            f"events-answered-after-wrk-stopped={self.unanswered} (<= {self.in_flight_bound})"
        )


def positions(url: str, tables: Sequence[Table]) -> dict[Table, int]:
    """The highest notification id of each table now."""
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            t: int(
                conn.execute(
                    sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(t.identifier)
                ).fetchone()[0]  # type: ignore[index]
            )
            for t in tables
        }


def check_run(
    url: str,
    tables: Sequence[Table],
    since: dict[Table, int],
    prefix: str,
    ok_ids: Sequence[str],
    connections: int,
) -> RunCheck:
    """Compare the 2xx request ids of a run with the events written after `since`."""
    seen: Counter[str] = Counter()
    misplaced = 0
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            query = sql.SQL("SELECT {}, topic FROM {} WHERE notification_id > %s").format(
                sql.SQL(table.request_id), table.identifier
            )
            for rid, topic in conn.execute(query, (since[table],)):
                if not rid or not rid.startswith(prefix + "-"):
                    continue
                seen[rid] += 1
                kind = rid[len(prefix) + 1]
                if kind not in table.kinds or not topic.endswith(EXPECTED_TOPIC[kind]):
                    misplaced += 1
    answered = set(ok_ids)
    return RunCheck(
        ok_answers=len(ok_ids),
        events=sum(seen.values()),
        missing=len(answered - seen.keys()),
        duplicated=sum(n - 1 for n in seen.values() if n > 1) + len(ok_ids) - len(answered),
        unanswered=len(seen.keys() - answered),
        misplaced=misplaced,
        in_flight_bound=connections,
    )


def broken_streams(url: str, table: Table) -> tuple[int, int]:
    """(streams, streams whose versions are not exactly initial..initial+n-1) in a table."""
    query = sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE n <> top - %s + 1) FROM ("
        " SELECT count(*) AS n, max(originator_version) AS top FROM {} GROUP BY originator_id"
        ") s"
    ).format(table.identifier)
    with psycopg.connect(url, autocommit=True) as conn:
        streams, broken = conn.execute(query, (table.initial_version,)).fetchone()  # type: ignore[misc]
    return int(streams), int(broken)
