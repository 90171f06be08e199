"""Every append is chained in its own transaction, under concurrency; old logs are chained once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from uuid import UUID

import pytest
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from commands.group_commit import GroupCommitter
from infra.audit.chain import GENESIS, digest, link_hash
from infra.audit.logs import chain_hashes, chain_head, verify_log
from tests.audit.chained_log import CHAIN, LOG, log_recorder, sql, stored

pytestmark = pytest.mark.postgres

WRITERS = 16
APPENDS = 60


def expected_hashes(postgres_url: str) -> dict[int, str]:
    """The chain recomputed from the events table alone."""
    rows = sql(
        postgres_url,
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM audit_events ORDER BY notification_id",
    )
    hashes, previous = {}, GENESIS
    for position, stream, version, topic, state in rows:
        previous = link_hash(previous, position, digest(stream, version, topic, bytes(state)))
        hashes[position] = previous.hex()
    return hashes


def test_each_append_links_to_the_one_before(postgres_url: str) -> None:
    with log_recorder(postgres_url) as recorder:
        first = recorder.insert_events(stored(3))
        second = recorder.insert_events(stored(2))
        assert first == [1, 2, 3] and second == [4, 5]

        hashes = chain_hashes(recorder, [1, 2, 3, 4, 5, 99])

    assert hashes == expected_hashes(postgres_url)
    assert sql(postgres_url, "SELECT previous_id FROM audit_events_chain ORDER BY 1") == [
        (0,),
        (1,),
        (2,),
        (3,),
        (4,),
    ]


def test_a_failed_append_leaves_no_link(postgres_url: str) -> None:
    with log_recorder(postgres_url) as recorder:
        events = stored(2)
        recorder.insert_events(events)
        with pytest.raises(Exception, match=r"duplicate key|IntegrityError|already exists"):
            recorder.insert_events([*stored(1), events[1]])
        recorder.insert_events(stored(1))

        verdict = verify_log(LOG, recorder, [])

    assert verdict.ok, verdict
    assert verdict.verified == 3
    assert sql(postgres_url, "SELECT count(*) FROM audit_events_chain") == [(3,)]


def test_sixteen_concurrent_writers_leave_a_chain_that_verifies(postgres_url: str) -> None:
    errors: list[BaseException] = []
    with log_recorder(postgres_url) as one, log_recorder(postgres_url) as other:
        committers = [
            GroupCommitter(lambda *events, r=r: r.insert_events(list(events)))  # type: ignore[misc]
            for r in (one, other, one, other)
        ]

        def write(index: int) -> None:
            try:
                for _ in range(APPENDS):
                    committers[index % 4].append(stored(1 + index % 3))
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        head = chain_head(one)
        verdict = verify_log(LOG, other, [])

    total = sum(APPENDS * (1 + i % 3) for i in range(WRITERS))
    assert errors == []
    assert verdict.ok, verdict
    assert verdict.verified == total
    assert head.hash.hex() == expected_hashes(postgres_url)[head.position]


def test_an_old_log_is_chained_once_at_upgrade(postgres_url: str) -> None:
    topic = get_topic(PostgresApplicationRecorder)
    with log_recorder(postgres_url, APPLICATION_RECORDER_TOPIC=topic) as old:
        old.insert_events(stored(4))
        old.insert_events(stored(3))
    assert sql(postgres_url, "SELECT to_regclass(%s)", (CHAIN,)) == [(None,)]

    with log_recorder(postgres_url) as upgraded:
        upgraded.insert_events(stored(2))
        links: Sequence[tuple[int, bytes]] = sql(postgres_url, "SELECT * FROM audit_events_chain")
    with log_recorder(postgres_url) as again:
        verdict = verify_log(LOG, again, [])

    assert verdict.ok, verdict
    assert verdict.verified == 9
    assert sql(postgres_url, "SELECT * FROM audit_events_chain") == links
    assert {p: h.hex() for p, *_, h in links} == expected_hashes(postgres_url)


def test_an_upgrade_chains_nothing_twice(postgres_url: str) -> None:
    with log_recorder(postgres_url) as recorder:
        recorder.insert_events(stored(2))
    sql(
        postgres_url,
        "INSERT INTO audit_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, 0, 'x', 'y')",
        (UUID(int=7),),
    )

    with log_recorder(postgres_url) as restarted:
        verdict = verify_log(LOG, restarted, [])

    assert not verdict.ok
    assert verdict.position == 3
    assert sql(postgres_url, "SELECT count(*) FROM audit_events_chain") == [(2,)]
