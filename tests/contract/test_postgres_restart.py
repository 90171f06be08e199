"""After a PostgreSQL restart, the first call of each kind succeeds: pooled connections that
the restart broke are replaced as they leave the pool, not handed to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from commands.services import Commands
from domain.base import Context
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.postgres_pool import postgres_pool
from infra.settings import PostgresSettings, Settings
from tests.conftest import free_port

pytestmark = pytest.mark.postgres

POOL_SIZE = 10


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A PostgreSQL of this test's own, since the test restarts it."""
    folder = Path(tmp_path_factory.mktemp("restart", numbered=True))
    folder.chmod(0o777)
    postgres = LocalPostgres(folder / "postgres", free_port(), durable=False)
    postgres.start()
    yield postgres
    postgres.stop()


def ctx(actor: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(actor), "seller", "r", "c", "c")


def select_one(pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        conn.execute("SELECT pg_sleep(0.01)")


def test_the_first_append_read_and_pool_call_after_a_restart_succeed(
    server: LocalPostgres,
) -> None:
    settings = Settings(postgres=PostgresSettings(url=server.url, pool_size=POOL_SIZE))
    commands = Commands(eventsourcing_env(settings), split_logs=True)
    pool = postgres_pool(server.url, max_size=POOL_SIZE, timeout=30)
    try:
        seller = uuid.uuid4()
        commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx(seller))
        with ThreadPoolExecutor(POOL_SIZE) as threads:  # every pooled connection in use once
            list(threads.map(lambda _: commands.catalog.recorder.max_notification_id(), range(50)))
            list(threads.map(lambda _: select_one(pool), range(50)))
        assert pool.get_stats()["pool_size"] > 1

        server.stop()
        server.start()

        other = uuid.uuid4()
        commands.catalog.register_seller(other, "Bolt", "b@bolt.test", ctx(other))
        assert commands.catalog.recorder.max_notification_id() == 2
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.close()
        commands.close()
