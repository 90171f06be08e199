"""Client-side deadlines on PostgreSQL calls: a call the server does not answer in time ends
with ServerNotAnswering, its connection is replaced, and the pool goes on serving."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from commands.services import Commands
from domain.base import Context
from infra.eventstore import eventsourcing_env
from infra.postgres_pool import ServerNotAnswering, postgres_pool, without_call_timeout
from infra.postgres_recorder import ArrayInsertPostgresRecorder
from infra.settings import Settings

pytestmark = pytest.mark.postgres

CALL_TIMEOUT = 0.5
SLACK_SECONDS = 3.0


def test_a_call_past_its_deadline_is_cut_off_and_the_pool_recovers(postgres_url: str) -> None:
    pool = postgres_pool(postgres_url, max_size=1, timeout=5, call_timeout=CALL_TIMEOUT)
    try:
        with pool.connection() as conn:
            started = time.monotonic()
            with pytest.raises(ServerNotAnswering):
                conn.execute("SELECT pg_sleep(3)")
            took = time.monotonic() - started
            assert conn.broken
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
    assert CALL_TIMEOUT <= took < CALL_TIMEOUT + SLACK_SECONDS
    assert isinstance(ServerNotAnswering(), psycopg.OperationalError)


def test_without_a_call_timeout_a_call_waits_for_the_answer(postgres_url: str) -> None:
    plain = postgres_pool(postgres_url, max_size=1)
    bounded = postgres_pool(postgres_url, max_size=1, call_timeout=CALL_TIMEOUT)
    try:
        with plain.connection() as conn:
            assert conn.execute("SELECT pg_sleep(0.8), 1").fetchone() == ("", 1)
        with without_call_timeout(), bounded.connection() as conn:
            assert conn.execute("SELECT pg_sleep(0.8), 1").fetchone() == ("", 1)
        with bounded.connection() as conn, pytest.raises(ServerNotAnswering):
            conn.execute("SELECT pg_sleep(3)")
    finally:
        plain.close()
        bounded.close()


def test_the_event_store_is_bounded_only_when_told(postgres_url: str) -> None:
    bounded = Commands(eventsourcing_env(Settings(), postgres_url, call_timeout=CALL_TIMEOUT))
    unbounded = Commands(eventsourcing_env(Settings(), postgres_url))
    try:
        seller = uuid.uuid4()
        ctx = Context(datetime.now(UTC), str(seller), "seller", "r", "c", "c")
        bounded.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
        assert unbounded.catalog.recorder.max_notification_id() == 1
        recorder = bounded.catalog.recorder
        assert isinstance(recorder, ArrayInsertPostgresRecorder)
        assert isinstance(unbounded.catalog.recorder, ArrayInsertPostgresRecorder)
        assert (recorder.bounded, unbounded.catalog.recorder.bounded) == (True, False)
        with recorder.datastore.get_connection() as conn, pytest.raises(ServerNotAnswering):
            conn.execute("SELECT pg_sleep(3)")
        assert recorder.max_notification_id() == 1
    finally:
        bounded.close()
        unbounded.close()
