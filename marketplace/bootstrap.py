"""Binds settings to concrete backends and builds the apps: the only module that sees all layers."""

from __future__ import annotations

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

from commands.services import Commands
from infra.auth import TokenCodec
from infra.eventstore import eventsourcing_env
from infra.idempotency import IdempotencyStore
from infra.logging import configure_logging
from infra.settings import Settings, load_settings
from writeapi.app import create_app as create_write_app
from writeapi.deps import WriteApiDeps


def token_codec(settings: Settings) -> TokenCodec:
    """The token codec configured by settings."""
    return TokenCodec(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_ttl_seconds,
    )


def build_commands(settings: Settings) -> Commands:
    """The command side on the configured event store."""
    return Commands(eventsourcing_env(settings), split_logs=settings.split_logs)


def postgres_pool(settings: Settings, max_size: int = 10) -> ConnectionPool:
    """An open pool on the configured PostgreSQL, in autocommit mode."""
    if not settings.postgres_url:
        raise ValueError("MARKETPLACE_POSTGRES_URL is required")
    return ConnectionPool(
        settings.postgres_url,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=True,
    )


def build_write_deps(settings: Settings) -> WriteApiDeps:
    """Everything the command API needs."""
    idempotency = IdempotencyStore(postgres_pool(settings), settings.idempotency_ttl_hours)
    idempotency.create_table()
    return WriteApiDeps(
        commands=build_commands(settings),
        tokens=token_codec(settings),
        idempotency=idempotency,
        max_body_bytes=settings.max_body_bytes,
        reservation_minutes=settings.reservation_minutes,
    )


def write_app() -> FastAPI:
    """The command API from the environment's settings (a uvicorn factory)."""
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_write_app(build_write_deps(settings))
