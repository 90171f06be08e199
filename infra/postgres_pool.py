"""The one way this platform opens a PostgreSQL connection pool."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from psycopg import Connection
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
    own transaction (a search's snapshot, a view's batch). Each connection is checked as it
    leaves the pool (one empty query), so the first call after a database restart gets a
    fresh connection instead of a dead one.
    """
    kwargs: dict[str, object] = {
        "autocommit": autocommit,
        "connect_timeout": max(MIN_CONNECT_TIMEOUT_SECONDS, round(connect_timeout)),
        **KEEPALIVE,
    }
    pools: list[ConnectionPool] = []
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        kwargs=kwargs,
        check=checking_the_rest(pools),
        open=True,
    )
    pools.append(pool)
    return pool


def checking_the_rest(pools: list[ConnectionPool]) -> Callable[[Connection[Any]], None]:
    """A connection check that, when one connection is found broken, checks every idle one
    of the pool (the one in pools, added once the pool exists).

    A restart breaks every pooled connection at once. The pool retries a failed check with
    backoff (1, 2, 4 s...), so ten broken connections would outlast any caller's timeout;
    replacing them all at the first failure makes the caller's next try a fresh one.
    """

    checking = threading.Lock()

    def check_idle() -> None:
        try:
            for pool in pools:
                pool.check()
        finally:
            checking.release()

    def check(conn: Connection[Any]) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if checking.acquire(blocking=False):  # one sweep at a time, even in an outage
                threading.Thread(target=check_idle, name="pool-check", daemon=True).start()
            raise

    return check
