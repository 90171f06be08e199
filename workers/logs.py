"""How a long-running process follows its logs (which logs, read on small pools) and opens
its own PostgreSQL pool."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import structlog
from prometheus_client import start_http_server
from psycopg_pool import ConnectionPool

from commands.services import SINGLE_LOG, Commands
from infra.eventstore import eventsourcing_env
from infra.postgres_pool import postgres_pool
from infra.settings import Settings
from infra.stores import Stores
from projections.log import ContextLog
from projections.runtime import Projection, Worker

log = structlog.get_logger()

LOG_POOL_SIZE = 1
"""A worker reads one batch at a time, so each log needs one connection (plus one spare)."""
LOG_CONNECT_TIMEOUT_SECONDS = 1
"""How long a log read waits for a connection before the library's own retries (ten) give up.

The library's default (30 s, ten times) would hold a worker inside one read for five minutes
of a PostgreSQL outage, deaf to SIGTERM; with this the worker's retry, which counts, logs and
honours a stop request, takes over within about twelve seconds.
"""


Follower = Projection[Any] | type[Projection[Any]]
"""A projection, or its class: either names the contexts it follows."""


def log_names(projection: Follower, settings: Settings) -> tuple[str, ...]:
    """The logs a projection follows: one per context, or the single shared log."""
    return projection.contexts if settings.events.split_logs else (SINGLE_LOG,)


def context_logs(projection: Follower, settings: Settings, where: Stores) -> list[ContextLog]:
    """A reader for each log the projection follows, on small connection pools."""
    env = reader_env(settings, where)
    return [ContextLog(env, name) for name in log_names(projection, settings)]


def reader_env(settings: Settings, where: Stores) -> dict[str, str]:
    """The event store's environment for a log reader: a small pool, a short connect timeout."""
    reader = settings.updated(
        postgres={
            "pool_size": LOG_POOL_SIZE,
            "max_overflow": 1,
            "connect_timeout_seconds": LOG_CONNECT_TIMEOUT_SECONDS,
        }
    )
    return eventsourcing_env(reader, where.postgres_url)


def followed_logs(
    projection: Follower, settings: Settings, where: Stores, resources: ExitStack
) -> list[ContextLog]:
    """context_logs(), each closed when resources closes."""
    logs = context_logs(projection, settings, where)
    for context_log in logs:
        resources.callback(context_log.close)
    return logs


def worker_pool(
    settings: Settings, where: Stores, resources: ExitStack, max_size: int, timeout: float = 5.0
) -> ConnectionPool:
    """A pool of up to max_size connections on the stores' PostgreSQL, closed with resources;
    a caller waits at most timeout seconds for a connection."""
    pool = postgres_pool(
        where.postgres_url,
        max_size=max_size,
        timeout=timeout,
        connect_timeout=settings.postgres.connect_timeout_seconds,
    )
    return resources.enter_context(pool)


def worker_commands(
    settings: Settings, where: Stores, resources: ExitStack, pool_size: int
) -> Commands:
    """The command applications a worker issues its commands through, on a pool of pool_size
    (and one more) connections to the event store; closed with resources."""
    small = settings.updated(postgres={"pool_size": pool_size, "max_overflow": 1})
    commands = Commands(
        eventsourcing_env(small, where.postgres_url), split_logs=settings.events.split_logs
    )
    resources.callback(commands.close)
    return commands


def run_until_stopped(
    name: str,
    opened: AbstractContextManager[Worker[Any]],
    settings: Settings,
    stop: threading.Event,
    metrics_port: int,
) -> int:
    """Run the opened worker until stop is set, then return 0, serving its metrics on
    metrics_port if given; a non-transient failure raises. name prefixes its log events."""
    if metrics_port:
        start_http_server(metrics_port, addr=settings.http.host)
    with opened as worker:
        log.info(f"{name}_started", logs=log_names(worker.projection, settings))
        worker.run(stop)
    log.info(f"{name}_stopped")
    return 0
