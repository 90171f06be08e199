"""Each kind of tampering, done by hand in SQL, is caught at the position where it was done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import ApplicationRecorder
from psycopg.sql import SQL, Identifier

from infra.audit.chain import digest, link_hash
from infra.audit.logs import chain_head, verify_log
from infra.audit.verify import Break, Checkpoint, Verdict
from tests.audit.chained_log import CHAIN, EVENTS, LOG, log_recorder, sql, stored

pytestmark = pytest.mark.postgres

APPENDS = 10
PER_APPEND = 3
HEAD = APPENDS * PER_APPEND


@pytest.fixture
def log(postgres_url: str) -> Iterator[tuple[ApplicationRecorder, list[Checkpoint]]]:
    """A log of HEAD events, with checkpoints taken at positions 15 and 30."""
    checkpoints = []
    with log_recorder(postgres_url) as recorder:
        for index in range(APPENDS):
            recorder.insert_events(stored(PER_APPEND, text=f"append {index}"))
            head = chain_head(recorder)
            if head.position in (15, HEAD):
                checkpoints.append(Checkpoint(head.position, head.hash))
        yield recorder, checkpoints


def verdict_of(log: tuple[ApplicationRecorder, list[Checkpoint]]) -> Verdict:
    recorder, checkpoints = log
    return verify_log(LOG, recorder, checkpoints)


def assert_broken(verdict: Verdict, kind: Break, position: int) -> None:
    assert (verdict.broken, verdict.position) == (kind, position), verdict


def test_an_untouched_log_verifies(log: tuple[ApplicationRecorder, list[Checkpoint]]) -> None:
    verdict = verdict_of(log)

    assert verdict.ok, verdict
    assert (verdict.verified, verdict.head) == (HEAD, HEAD)


def test_an_edited_payload(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]]
) -> None:
    sql(
        postgres_url,
        """UPDATE audit_events SET state = convert_to('{{"n":1,"t":"forged"}}', 'UTF8')
        WHERE notification_id = 11""",
    )

    assert_broken(verdict_of(log), Break.PAYLOAD_CHANGED, 11)


@pytest.mark.parametrize("with_link", [False, True], ids=["event", "event and link"])
def test_a_deleted_row(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]], with_link: bool
) -> None:
    sql(postgres_url, "DELETE FROM audit_events WHERE notification_id = 12")
    if with_link:
        sql(postgres_url, "DELETE FROM audit_events_chain WHERE notification_id = 12")

    assert_broken(verdict_of(log), Break.ROW_DELETED, 12)


@pytest.mark.parametrize("with_links", [False, True], ids=["events", "events and links"])
def test_two_swapped_rows(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]], with_links: bool
) -> None:
    for table in (EVENTS, CHAIN) if with_links else (EVENTS,):
        for before, after in ((13, -1), (21, 13), (-1, 21)):
            statement = SQL("UPDATE {} SET notification_id = %s WHERE notification_id = %s")
            sql(postgres_url, statement.format(Identifier(table)), (after, before))

    assert_broken(verdict_of(log), Break.ROWS_REORDERED, 13)


def test_an_inserted_row(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]]
) -> None:
    forged = stored(1, text="forged")[0]
    sql(
        postgres_url,
        "INSERT INTO audit_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, %s, %s, %s)",
        (forged.originator_id, forged.originator_version, forged.topic, forged.state),
    )

    assert_broken(verdict_of(log), Break.ROW_INSERTED, HEAD + 1)


def test_a_row_inserted_with_a_forged_link(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]]
) -> None:
    for table in (EVENTS, CHAIN):
        for shift, above in ((1000, 16), (-999, 1000)):
            statement = SQL(
                "UPDATE {} SET notification_id = notification_id + %s WHERE notification_id > %s"
            )
            sql(postgres_url, statement.format(Identifier(table)), (shift, above))
    forged = stored(1, text="forged")[0]
    (previous,) = sql(
        postgres_url, "SELECT hash FROM audit_events_chain WHERE notification_id = 16"
    )
    event_digest = digest(forged.originator_id, 0, forged.topic, forged.state)
    sql(
        postgres_url,
        "INSERT INTO audit_events VALUES (%s, 0, %s, %s, 17)",
        (forged.originator_id, forged.topic, forged.state),
    )
    sql(
        postgres_url,
        "INSERT INTO audit_events_chain VALUES (17, 16, %s, %s)",
        (event_digest, link_hash(bytes(previous[0]), 17, event_digest)),
    )

    assert_broken(verdict_of(log), Break.ROW_INSERTED, 17)


@pytest.mark.parametrize("with_links", [False, True], ids=["events", "events and links"])
def test_a_truncated_head(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]], with_links: bool
) -> None:
    for table in (EVENTS, CHAIN) if with_links else (EVENTS,):
        statement = SQL("DELETE FROM {} WHERE notification_id > 25")
        sql(postgres_url, statement.format(Identifier(table)))

    assert_broken(verdict_of(log), Break.HEAD_TRUNCATED, 26)


def test_a_chain_rewritten_consistently_after_the_last_checkpoint(
    postgres_url: str, log: tuple[ApplicationRecorder, list[Checkpoint]]
) -> None:
    sql(
        postgres_url,
        """UPDATE audit_events SET state = convert_to('{{"n":1,"t":"forged"}}', 'UTF8')
        WHERE notification_id = 20""",
    )
    rows = sql(
        postgres_url,
        "SELECT e.notification_id, originator_id, originator_version, "
        "topic, state, c.hash FROM audit_events e "
        "JOIN audit_events_chain c USING (notification_id) ORDER BY 1",
    )
    previous = bytes(rows[18][5])
    for position, stream, version, topic, state, _ in rows[19:]:
        event_digest = digest(stream, version, topic, bytes(state))
        previous = link_hash(previous, position, event_digest)
        sql(
            postgres_url,
            "UPDATE audit_events_chain SET digest = %s, hash = %s WHERE notification_id = %s",
            (event_digest, previous, position),
        )

    assert_broken(verdict_of(log), Break.CHAIN_REWRITTEN, 16)
    recorder, _ = log
    assert verify_log(LOG, recorder, []).ok
