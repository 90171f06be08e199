"""Time from one clock: PostgreSQL's, for every deadline and lease the platform decides.

Hosts' clocks drift apart. A deadline set by one host's clock and enforced by another's
moves by their skew (a payment deadline of 15 minutes became 10 through a host 5 minutes
slow), and a lease taken by one worker's clock is stolen early by a worker whose clock runs
fast. So the processes that decide such times (the command API, which sets an order's
payment deadline, and the checkout worker, which enforces it and leases payment jobs) read
them from the database both share: the PostgreSQL that holds the checkout book and the
idempotency keys, there with either event store (KurrentDB's clock cannot be read this way).

A DatabaseClock reads `clock_timestamp()` once per resync interval and carries it forward on
the process's monotonic clock, which a wrong or stepped wall clock does not move; between
readings it costs nothing. The local wall clock is only compared with it, for the
`clock_skew_seconds` gauge, so an operator sees a skewed host before anything else does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import structlog
from prometheus_client import Gauge
from psycopg_pool import ConnectionPool, PoolTimeout

log = structlog.get_logger()

Clock = Callable[[], datetime]
"""Gives the time now, timezone-aware (UTC)."""

RESYNC_SECONDS = 10.0
"""How often a DatabaseClock reads the database's time again (one query per interval)."""
RETRY_SECONDS = 1.0
"""How soon a failed reading is tried again; meanwhile the last one is carried forward."""
UNREADABLE = (psycopg.Error, PoolTimeout)

CLOCK_SKEW = Gauge(
    "clock_skew_seconds",
    "This host's wall clock minus the database's, at the last reading of the database's clock",
    multiprocess_mode="livemostrecent",
)


def system_clock() -> datetime:
    """This host's wall clock: for timestamps, never for a deadline another host enforces."""
    return datetime.now(UTC)


class DatabaseClock:
    """PostgreSQL's time, read every resync_seconds and carried forward on the monotonic clock.

    Calling it gives the database's time now. It is at most one query's round trip ahead of
    the database (the reading counts from the moment the query was sent), never behind, and
    never earlier than a time it gave before. If a reading fails, the last one is carried
    forward and the reading is tried again RETRY_SECONDS later; with no reading yet, the
    error is raised. Thread-safe: one thread reads while the others carry on.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        resync_seconds: float = RESYNC_SECONDS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.resync_seconds = resync_seconds
        self.skew_seconds = 0.0
        """This host's wall clock minus the database's, at the last reading."""
        self._monotonic = monotonic
        self._reading: tuple[datetime, float] | None = None
        self._next_reading = 0.0
        self._last = datetime.min.replace(tzinfo=UTC)
        self._reading_lock = threading.Lock()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The database's time now."""
        if self._monotonic() >= self._next_reading:
            self._read_again()
        with self._lock:
            assert self._reading is not None
            at, since = self._reading
            now = max(at + timedelta(seconds=self._monotonic() - since), self._last)
            self._last = now
        return now

    def sync(self) -> None:
        """Read the database's time now (and set the skew gauge); raise if it cannot be read."""
        sent = self._monotonic()
        wall_before = time.time()
        with self.pool.connection() as conn:
            row = conn.execute("SELECT clock_timestamp()").fetchone()
        wall = (wall_before + time.time()) / 2
        assert row is not None
        at: datetime = row[0]
        with self._lock:
            self._reading = (at, sent)
            self._next_reading = sent + self.resync_seconds
        self.skew_seconds = wall - at.timestamp()
        CLOCK_SKEW.set(self.skew_seconds)

    def _read_again(self) -> None:
        first = self._reading is None
        if not self._reading_lock.acquire(blocking=first):
            return  # another thread is reading; carry the last reading forward meanwhile
        try:
            if self._monotonic() < self._next_reading:
                return
            self.sync()
        except UNREADABLE as error:
            if self._reading is None:
                raise
            log.warning("database_clock_unreadable", error=repr(error))
            self._next_reading = self._monotonic() + RETRY_SECONDS
        finally:
            self._reading_lock.release()
