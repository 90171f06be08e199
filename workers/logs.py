"""How a long-running process follows its logs: which logs, read on small pools."""

from __future__ import annotations

from typing import Any

from commands.services import SINGLE_LOG
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from infra.stores import Stores
from projections.log import ContextLog
from projections.runtime import Projection

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
