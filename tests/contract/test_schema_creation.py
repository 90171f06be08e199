"""Processes that start together may all create the same tables: none of them fails."""

from __future__ import annotations

import threading

import pytest
from psycopg_pool import ConnectionPool

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.idempotency import IdempotencyStore
from infra.settings import PostgresSettings, Settings
from projections.log import ContextLog

pytestmark = pytest.mark.postgres

STARTERS = 8


def test_concurrent_starts_on_an_empty_schema_all_succeed(postgres_url: str) -> None:
    env = eventsourcing_env(
        Settings(postgres=PostgresSettings(pool_size=1, max_overflow=2)), postgres_url
    )
    start = threading.Barrier(STARTERS)
    errors: list[BaseException] = []

    def start_up(n: int) -> None:
        try:
            start.wait()
            if n % 2:
                Commands(env).close()
            else:
                ContextLog(env, "catalog").close()
            with ConnectionPool(postgres_url, min_size=1, max_size=1) as pool:
                IdempotencyStore(pool).create_table()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start_up, args=(n,)) for n in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
