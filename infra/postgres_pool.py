"""The one way this platform opens a PostgreSQL connection pool."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

MIN_CONNECT_TIMEOUT_SECONDS = 2
"""libpq rounds a connect_timeout below two seconds up to two."""
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
"""TCP keepalives: a peer gone silent (a partition, a frozen host) is noticed in about 25 s,
not after the kernel's two hours."""


def postgres_pool(
    url: str,
    *,
    max_size: int,
    timeout: float = 5.0,
    connect_timeout: float = MIN_CONNECT_TIMEOUT_SECONDS,
    autocommit: bool = True,
) -> ConnectionPool:
    """An open pool on url, of one to max_size connections.

    A caller waits at most timeout seconds for a connection (then PoolTimeout), a new
    connection at most connect_timeout seconds; autocommit off suits callers that set their
    own transaction (a search's snapshot, a view's batch).
    """
    kwargs: dict[str, object] = {
        "autocommit": autocommit,
        "connect_timeout": max(MIN_CONNECT_TIMEOUT_SECONDS, round(connect_timeout)),
        **KEEPALIVE,
    }
    return ConnectionPool(
        url, min_size=1, max_size=max_size, timeout=timeout, kwargs=kwargs, open=True
    )
