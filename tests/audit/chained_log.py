"""A chained PostgreSQL log on the test's schema, and the SQL an attacker would run on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import psycopg
from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, StoredEvent
from eventsourcing.utils import Environment
from psycopg.sql import Composed

from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings

LOG = "audit"
EVENTS = f"{LOG}_events"
CHAIN = f"{EVENTS}_chain"
TOPIC = "tests.audit:Appended"


@contextmanager
def log_recorder(postgres_url: str, log: str = LOG, **extra: str) -> Iterator[ApplicationRecorder]:
    """The platform's recorder of a log (its tables created, as at startup)."""
    settings = Settings(postgres=PostgresSettings(pool_size=20, max_overflow=4))
    env = {**eventsourcing_env(settings, postgres_url), **extra}
    factory = InfrastructureFactory.construct(Environment(log, env))
    try:
        recorder = factory.application_recorder()
        recorder.create_table()  # type: ignore[attr-defined]
        yield recorder
    finally:
        factory.close()


def stored(count: int, text: str = "x") -> list[StoredEvent]:
    """count events of one new stream, versions 0.."""
    stream = uuid4()
    return [
        StoredEvent(stream, version, TOPIC, f'{{"n":{version},"t":"{text}"}}'.encode())
        for version in range(count)
    ]


def sql(postgres_url: str, statement: str | Composed, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement by hand, as an attacker with the database's password would."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []
