"""The one way this platform opens a PostgreSQL connection pool, and its bounded connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, ClassVar, TypeVar

import psycopg
from psycopg import Connection
from psycopg.abc import PQGen
from psycopg.rows import Row
from psycopg_pool import ConnectionPool

MIN_CONNECT_TIMEOUT_SECONDS = 2
"""libpq rounds a connect_timeout below two seconds up to two."""
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 25_000,
}
"""TCP keepalives and user timeout (ms): a peer gone silent (a partition, a dead host) is
noticed in about 25 s, idle or with data unacknowledged, not after the kernel's two hours or
its fifteen minutes of retransmissions. A frozen server process whose kernel still answers
TCP is not noticed this way: that takes a connection's call timeout (DeadlineConnection)."""
EVENT_STORE_APPLICATION = "marketplace-event-store"
"""The application_name of every event-store connection: a takeover of an idempotency key
waits for the transactions of these sessions (infra.idempotency)."""
STARTUP_TIMEOUT_SECONDS = 30.0
"""How long startup work (creating tables) waits for a pooled connection."""
WAIT_INTERVAL = 0.1
"""How often psycopg wakes while it waits on the server (its own default)."""
RV = TypeVar("RV")


class ServerNotAnswering(psycopg.OperationalError):
    """PostgreSQL did not answer a call within the connection's call timeout.

    The call's outcome is unknown: a COMMIT already sent may still be applied when the
    server resumes. The connection was closed, so its pool replaces it.
    """


class DeadlineConnection(Connection[Row]):
    """A connection whose every wait on the server ends within call_timeout seconds.

    The client enforces the bound, so it holds when the server itself is frozen or cut off
    (a server-side statement_timeout never fires then). Past it the connection is closed
    (the server sees it go, and rolls back what it had not committed) and the caller gets
    ServerNotAnswering. A wait that names its own timeout (LISTEN's notifies) keeps it.
    Subclasses made by deadline_connection() set call_timeout; here it is None: no bound.
    """

    call_timeout: ClassVar[float | None] = None

    def wait(
        self, gen: PQGen[RV], interval: float = WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        """Run gen on the connection within call_timeout seconds (or the timeout given)."""
        limit = None if _patient.get() else self.call_timeout
        if limit is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, limit)
        except psycopg.errors._WaitTimeout:  # psycopg's own signal that the wait ran out
            self.pgconn.finish()
            raise ServerNotAnswering(f"PostgreSQL did not answer within {limit:g} s") from None


_patient: ContextVar[bool] = ContextVar("patient", default=False)


@contextmanager
def without_call_timeout() -> Iterator[None]:
    """Calls made in the block (in this context) wait as long as the server takes: for
    startup and maintenance work, which may queue behind other processes' locks."""
    token = _patient.set(True)
    try:
        yield
    finally:
        _patient.reset(token)


@cache
def deadline_connection(call_timeout: float) -> type[DeadlineConnection[Any]]:
    """The connection class whose every call ends within call_timeout seconds."""
    name = f"DeadlineConnection{call_timeout:g}s"
    return type(name, (DeadlineConnection,), {"call_timeout": call_timeout})


def connection_kwargs(connect_timeout: float) -> dict[str, Any]:
    """libpq parameters of every pooled connection: connect timeout, keepalives, user timeout."""
    return {
        "connect_timeout": max(MIN_CONNECT_TIMEOUT_SECONDS, round(connect_timeout)),
        **KEEPALIVE,
    }


def postgres_pool(
    url: str,
    *,
    max_size: int,
    timeout: float = 5.0,
    connect_timeout: float = MIN_CONNECT_TIMEOUT_SECONDS,
    autocommit: bool = True,
    call_timeout: float | None = None,
) -> ConnectionPool:
    """An open pool on url, of one to max_size connections.

    A caller waits at most timeout seconds for a connection (then PoolTimeout), a new
    connection at most connect_timeout seconds, and, with call_timeout, each call at most
    that long for the server's answer (then ServerNotAnswering; see DeadlineConnection).
    autocommit off suits callers that set their own transaction (a search's snapshot, a
    view's batch). Each connection is checked as it leaves the pool (one empty query), so
    the first call after a database restart gets a fresh connection instead of a dead one.
    """
    kwargs: dict[str, object] = {"autocommit": autocommit, **connection_kwargs(connect_timeout)}
    pools: list[ConnectionPool] = []
    connection_class = Connection if call_timeout is None else deadline_connection(call_timeout)
    pool = ConnectionPool(
        url,
        connection_class=connection_class,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        kwargs=kwargs,
        check=checking_the_rest(pools),
        open=True,
    )
    pools.append(pool)
    return pool


def checking_the_rest(
    pools: list[ConnectionPool[Any]],
) -> Callable[[Connection[Any]], None]:
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
