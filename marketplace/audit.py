"""Binds the audit API and the `audit` commands to the configured event store.

The audit API is its own process (`audit-api`, `serve-audit`): it reads the event stores, not
the views, so its long exports and full scans never take a shopper's connection or slot.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid5

from fastapi import FastAPI
from kurrentdbclient import KurrentDBClient
from psycopg_pool import ConnectionPool

from auditapi.access import Access, PostgresAccessLog
from auditapi.app import create_app
from auditapi.deps import AuditApiDeps
from auditapi.events import EventDecoder
from auditapi.kurrentdb_reader import KurrentDBEventReader
from auditapi.postgres_reader import PostgresEventReader, table_of
from auditapi.reader import CONTEXTS, EventReader
from commands.services import SINGLE_LOG
from infra.eventstore import search_path_of
from infra.logging import configure_logging
from infra.personal.keys import PostgresKeyStore
from infra.postgres_pool import postgres_pool
from infra.settings import Settings, load_settings
from infra.stores import stores
from infra.web import freeze_startup_heap
from marketplace.audit_chain import verify_logs
from marketplace.bootstrap import token_codec

POOL_SIZE = 8
OPERATORS = UUID("0b7e4c1a-2f55-4d0e-9a53-6c1d8e2f7a40")
"""Namespace of the reader ids of OS users who read through the `audit` commands."""


def audit_pool(settings: Settings) -> ConnectionPool:
    """The audit process's pool on the stores' PostgreSQL (event tables and access log)."""
    return postgres_pool(
        stores(settings).postgres_url,
        max_size=POOL_SIZE,
        connect_timeout=settings.postgres.connect_timeout_seconds,
    )


def log_names(settings: Settings) -> tuple[str, ...]:
    """The logs: one per context, or the single shared log."""
    return CONTEXTS if settings.events.split_logs else (SINGLE_LOG,)


def event_reader(settings: Settings, pool: ConnectionPool) -> EventReader:
    """The reader of the configured event store (PostgreSQL reads through pool), opening
    sealed personal data with the data keys kept in the PostgreSQL (infra.personal)."""
    schema = search_path_of(stores(settings).postgres_url) or "public"
    keys = (
        PostgresKeyStore(pool.connection, schema) if settings.events.encrypt_personal_data else None
    )
    decoder = EventDecoder(keys)
    if settings.events.store == "kurrentdb":
        assert settings.events.kurrentdb_uri
        client = KurrentDBClient(
            settings.events.kurrentdb_uri,
            root_certificates=settings.events.kurrentdb_root_certificates,
        )
        return KurrentDBEventReader(client, log_names(settings), decoder)
    if settings.events.store != "postgres":
        raise ValueError("the audit API reads a PostgreSQL or KurrentDB event store")
    tables = {log: table_of(log) for log in log_names(settings)}
    return PostgresEventReader(pool, schema, tables, decoder)


def access_log(settings: Settings, pool: ConnectionPool) -> PostgresAccessLog:
    """The durable record of audit reads, its table created if missing."""
    schema = search_path_of(stores(settings).postgres_url) or "public"
    access = PostgresAccessLog(pool, schema)
    access.create_table()
    return access


def build_audit_deps(settings: Settings) -> AuditApiDeps:
    """Everything the audit API needs."""
    pool = audit_pool(settings)
    reader = event_reader(settings, pool)
    closers = (reader.close, pool.close) if settings.events.store == "kurrentdb" else (pool.close,)
    return AuditApiDeps(
        reader,
        access_log(settings, pool),
        token_codec(settings.auth),
        closers=closers,
        verify=lambda: verify_logs(settings),
    )


def audit_app() -> FastAPI:
    """The audit API from the environment's settings (a uvicorn factory)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    deps = build_audit_deps(settings)
    app = create_app(deps, owned=deps.closers)
    freeze_startup_heap()
    return app


@contextmanager
def audit_session(settings: Settings) -> Iterator[tuple[EventReader, PostgresAccessLog]]:
    """The configured event store's reader and the access log, for the `audit` commands;
    closed after."""
    pool = audit_pool(settings)
    reader = event_reader(settings, pool)
    try:
        yield reader, access_log(settings, pool)
    finally:
        if settings.events.store == "kurrentdb":
            reader.close()
        pool.close()


def operator_access(action: str, subject: str, **query: Any) -> Access:
    """The record of an audit read made from the command line by the OS user running it."""
    user = getpass.getuser()
    shown = {key: str(value) for key, value in query.items() if value is not None}
    return Access(
        uuid5(OPERATORS, user), "operator", action, subject, {"os_user": user, **shown}, None
    )
