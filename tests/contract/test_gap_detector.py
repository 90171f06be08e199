"""A subscriber that follows the PostgreSQL log sees every position once, in order.

The recorder locks the events table in each append so that notification ids are
committed in the order they are issued. Writers here pause inside the append
transaction, after their ids are issued and before commit, to widen the window in
which a reader could pass over an id that commits later. The same detector then shows
that without the lock (or with the library's database-function insert, which takes no
lock) a follower loses positions.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment, get_topic

from commands.group_commit import GroupCommitter
from infra.eventstore import eventsourcing_env
from infra.postgres_recorder import ArrayInsertPostgresRecorder
from infra.settings import PostgresSettings, Settings

pytestmark = pytest.mark.postgres

TOPIC = "tests.gap:Appended"
SUBSCRIBER_TIMEOUT_SECONDS = 60.0


class LockFreeRecorder(PostgresApplicationRecorder):
    """The library's recorder without the table lock, pausing after its ids are issued."""

    max_pause_seconds = 0.010

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        time.sleep(random.uniform(0, self.max_pause_seconds))
        return ids

    def _lock_table(self, curs: Any) -> None:
        pass


@dataclass
class Detection:
    """What the follower saw against what the log holds once every writer is done."""

    stored: list[int]
    seen: list[int]

    @property
    def missing(self) -> list[int]:
        """Stored positions the follower never saw."""
        return sorted(set(self.stored) - set(self.seen))

    @property
    def repeated(self) -> int:
        """How many positions the follower saw more than once."""
        return len(self.seen) - len(set(self.seen))


def recorder_env(postgres_url: str, recorder_class: type | None, **extra: str) -> dict[str, str]:
    """The library environment for a recorder of the given class on the test's schema."""
    settings = Settings(postgres=PostgresSettings(pool_size=24, max_overflow=8))
    env = eventsourcing_env(settings, postgres_url)
    if recorder_class is not None:
        env["APPLICATION_RECORDER_TOPIC"] = get_topic(recorder_class)
    env.update(extra)
    return env


@contextmanager
def build_recorder(env: Mapping[str, str]) -> Iterator[ApplicationRecorder]:
    """An application recorder built by the library's factory, closed afterwards."""
    factory = InfrastructureFactory.construct(Environment("gaps", dict(env)))
    try:
        yield factory.application_recorder()
    finally:
        factory.close()


def pause_inside_inserts(postgres_url: str, max_pause_seconds: float) -> None:
    """Make every insert into the log pause after its ids are issued, before it commits.

    An AFTER INSERT statement trigger runs inside the inserting transaction whatever
    issues the INSERT, including the library's insert function.
    """
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION gap_pause() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep(random() * {max_pause_seconds}); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER gap_pause AFTER INSERT ON gaps_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION gap_pause()"
        )


def stored_ids(recorder: ApplicationRecorder) -> list[int]:
    """Every notification id in the log, read page by page."""
    ids: list[int] = []
    last = 0
    while True:
        page = recorder.select_notifications(start=last, limit=1000, inclusive_of_start=False)
        ids.extend(n.id for n in page)
        if len(page) < 1000:
            return ids
        last = page[-1].id


Append = Callable[[list[StoredEvent]], Any]


def follow_while_writing(
    recorder: ApplicationRecorder,
    writers: int,
    appends: int,
    append_for: Callable[[int], Append] | None = None,
) -> Detection:
    """Run writers against the log while a subscriber follows it; return what it saw.

    append_for(i) gives writer i its way to append; by default the recorder itself.
    """
    sentinel = uuid4()
    seen: list[int] = []
    errors: list[BaseException] = []
    subscribed = threading.Event()
    subscription: list[Subscription[Any]] = []

    def follow() -> None:
        try:
            with recorder.subscribe(gt=None) as sub:
                subscription.append(sub)
                subscribed.set()
                for notification in sub:
                    seen.append(notification.id)
                    if notification.originator_id == sentinel:
                        return
        except BaseException as e:
            errors.append(e)
        finally:
            subscribed.set()

    start = threading.Barrier(writers)

    def write(stream: UUID, append: Append) -> None:
        try:
            start.wait()
            for version in range(appends):
                append([StoredEvent(stream, version, TOPIC, b"{}")])
        except BaseException as e:
            errors.append(e)

    follower = threading.Thread(target=follow)
    follower.start()
    assert subscribed.wait(SUBSCRIBER_TIMEOUT_SECONDS)
    appenders = [append_for(i) if append_for else recorder.insert_events for i in range(writers)]
    threads = [threading.Thread(target=write, args=(uuid4(), a)) for a in appenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.insert_events([StoredEvent(sentinel, 0, TOPIC, b"{}")])
    follower.join(SUBSCRIBER_TIMEOUT_SECONDS)
    if follower.is_alive():
        for sub in subscription:
            sub.stop()
        follower.join()
        pytest.fail("the subscriber never reached the last append")
    assert errors == []
    return Detection(stored=stored_ids(recorder), seen=seen)


def test_follower_sees_every_position_once_in_order(postgres_url: str) -> None:
    """The production append path: our recorder, behind group commit, in four 'processes'."""
    with build_recorder(recorder_env(postgres_url, None)) as recorder:
        assert type(recorder) is ArrayInsertPostgresRecorder
        pause_inside_inserts(postgres_url, max_pause_seconds=0.002)
        committers = [
            GroupCommitter(lambda *events: recorder.insert_events(list(events))) for _ in range(4)
        ]
        detection = follow_while_writing(
            recorder, writers=16, appends=1000, append_for=lambda i: committers[i % 4].append
        )

        assert len(detection.stored) == 16 * 1000 + 1
        assert detection.missing == []
        assert detection.repeated == 0
        assert detection.seen == detection.stored


def test_without_the_table_lock_the_follower_loses_positions(postgres_url: str) -> None:
    with build_recorder(recorder_env(postgres_url, LockFreeRecorder)) as recorder:
        assert type(recorder) is LockFreeRecorder
        detection = follow_while_writing(recorder, writers=16, appends=60)

        assert len(detection.stored) == 16 * 60 + 1
        assert detection.repeated == 0
        assert detection.seen == sorted(detection.seen)
        assert len(detection.missing) > 0


def test_the_database_insert_function_takes_no_lock_and_loses_positions(
    postgres_url: str,
) -> None:
    env = recorder_env(postgres_url, None, POSTGRES_ENABLE_DB_FUNCTIONS="y")
    with build_recorder(env) as recorder:
        assert isinstance(recorder, PostgresApplicationRecorder)
        assert recorder.datastore.enable_db_functions
        pause_inside_inserts(postgres_url, max_pause_seconds=0.010)
        detection = follow_while_writing(recorder, writers=16, appends=60)

        assert len(detection.stored) == 16 * 60 + 1
        assert detection.repeated == 0
        assert detection.seen == sorted(detection.seen)
        assert len(detection.missing) > 0
