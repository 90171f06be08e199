"""The database's clock read through a pool: what a host with a wrong wall clock gets right."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from infra.clock import RESYNC_SECONDS, DatabaseClock
from infra.postgres_pool import postgres_pool
from tests.checkout.shop import database_now

pytestmark = pytest.mark.postgres

SKEW_BOUND = timedelta(seconds=30)
"""Far below every skew tested, far above any query's round trip on a loaded machine."""


@pytest.fixture
def pool(postgres_url: str) -> Iterator[ConnectionPool]:
    opened = postgres_pool(postgres_url, max_size=2)
    yield opened
    opened.close()


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=-17), timedelta(minutes=5)], ids=["17-min-slow", "5-min-fast"]
)
def test_a_host_with_a_skewed_wall_clock_reads_the_database_time_and_reports_the_skew(
    pool: ConnectionPool, postgres_url: str, skew: timedelta
) -> None:
    before = database_now(postgres_url)
    with time_machine.travel(datetime.now(UTC) + skew, tick=True):
        clock = DatabaseClock(pool)
        now = clock()
        host = datetime.now(UTC)
    after = database_now(postgres_url)

    assert before <= now <= after + timedelta(seconds=1)  # ahead by a round trip at most
    assert abs(host - now - skew) < SKEW_BOUND
    assert abs(timedelta(seconds=clock.skew_seconds) - skew) < SKEW_BOUND
    gauge = REGISTRY.get_sample_value("clock_skew_seconds")
    assert gauge is not None and abs(timedelta(seconds=gauge) - skew) < SKEW_BOUND


def test_the_database_is_read_once_per_interval_and_carried_forward_between(
    pool: ConnectionPool,
) -> None:
    ticks = Ticks()
    clock = DatabaseClock(pool, monotonic=ticks)
    first = clock()
    skews = []
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=5), tick=True):
        again = clock()  # the monotonic clock stood still: the very same time, nothing read
        skews.append(clock.skew_seconds)
        ticks.now += RESYNC_SECONDS / 2
        carried = clock()
        skews.append(clock.skew_seconds)
        ticks.now += RESYNC_SECONDS
        clock()  # read again: the skew is measured anew
        skews.append(clock.skew_seconds)

    assert again == first
    assert carried == first + timedelta(seconds=RESYNC_SECONDS / 2)
    unchanged, carried_skew, measured = (timedelta(seconds=s) for s in skews)
    assert abs(unchanged) < SKEW_BOUND and abs(carried_skew) < SKEW_BOUND
    assert abs(measured - timedelta(minutes=5)) < SKEW_BOUND


def test_an_unreadable_database_carries_the_last_reading_forward(pool: ConnectionPool) -> None:
    ticks = Ticks()
    clock = DatabaseClock(pool, monotonic=ticks)
    first = clock()
    pool.close()

    ticks.now += RESYNC_SECONDS * 3
    later = clock()

    assert later == first + timedelta(seconds=RESYNC_SECONDS * 3)


def test_with_no_reading_yet_an_unreadable_database_is_an_error(pool: ConnectionPool) -> None:
    pool.close()

    with pytest.raises(psycopg.OperationalError):
        DatabaseClock(pool)()
