"""A running projector rides out outages of its view store and its log: nothing lost or doubled.

Each test runs `marketplace project product-detail` as a real process against servers of
its own, stops a server under it, starts it again, and then compares the view with a full
replay of the log (and units available with the domain's stock items).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.settings import Settings
from projections.product_detail.redis_view import RedisProductDetailView
from tests.conftest import free_port
from tests.projections.conftest import (
    WAIT_SECONDS,
    Appender,
    Workload,
    assert_matches_domain,
    assert_same_view,
    dump,
    heads,
    projector_process,
    replay,
    view_prefix,
    wait_until_caught_up,
)
from tests.worker_process import WorkerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A Redis of this test's own, durable (AOF), so a restart keeps its data."""
    server = LocalRedis(tmp_path / "redis", free_port(), durable=True)
    server.start()
    yield server
    server.stop()


def poll(what: str, done: Callable[[], bool], projector: WorkerProcess) -> None:
    """Poll done() until true; fail after WAIT_SECONDS or if the projector exits."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done():
        if not projector.alive():
            pytest.fail(f"projector exited while waiting for {what}: {projector.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen after {WAIT_SECONDS}s\n{projector.log()}")
        time.sleep(0.01)


def grown(commands: Commands, events: int) -> Callable[[], bool]:
    """A condition: the logs have grown by at least events since now."""
    start = sum(heads(commands).values())
    return lambda: sum(heads(commands).values()) >= start + events


def retried(projector: WorkerProcess) -> Callable[[], bool]:
    """A condition: the projector has counted a store retry."""
    return lambda: projector.metric("projection_failures_total", kind="retry") > 0


def compare_with_replay(
    postgres_url: str, view: RedisProductDetailView, workload: Workload
) -> None:
    replayed = replay(postgres_url, view.client, f"{view.keys.prefix}r")
    try:
        assert_same_view(view, replayed, workload)
        assert_matches_domain(view, workload)
    finally:
        replayed.clear()


@contextlib.contextmanager
def projecting_shop(
    postgres_url: str,
    commands: Commands,
    own_redis: LocalRedis,
    prefix: str,
    output: Path,
    seed: int,
) -> Iterator[tuple[Workload, RedisProductDetailView, WorkerProcess]]:
    """A shop with 1,500 events, its view, and a projector that has caught up on them."""
    workload = Workload(commands, random.Random(seed))
    workload.open_shop(sellers=3, products=24)
    workload.run(1500)
    view = RedisProductDetailView(redis.Redis.from_url(own_redis.url), view_prefix(prefix))
    projector = projector_process(postgres_url, own_redis.url, prefix, output, 50)
    projector.start()
    try:
        wait_until_caught_up(view, commands, projector)
        yield workload, view, projector
    finally:
        if projector.alive():
            projector.kill()


def test_a_redis_restart_under_appends_loses_and_doubles_nothing(
    postgres_url: str, commands: Commands, own_redis: LocalRedis, prefix: str, tmp_path: Path
) -> None:
    shop = projecting_shop(postgres_url, commands, own_redis, prefix, tmp_path / "p.log", 7)
    with shop as (workload, view, projector):
        try:
            pid = projector.process.pid if projector.process else None
            with Appender(workload, every=0.02):
                poll("appends while Redis is up", grown(commands, 100), projector)
                own_redis.stop()
                poll("appends while Redis is down", grown(commands, 300), projector)
                poll("the projector retrying", retried(projector), projector)
                own_redis.start()
                poll("appends after Redis is back", grown(commands, 100), projector)
            wait_until_caught_up(view, commands, projector)
            assert projector.alive() and projector.process and projector.process.pid == pid
            assert projector.stop() == 0, projector.log()
            compare_with_replay(postgres_url, view, workload)
        finally:
            view.clear()


def test_a_redis_restarted_empty_is_rebuilt_from_the_log_by_the_idle_projector(
    postgres_url: str, commands: Commands, own_redis: LocalRedis, prefix: str, tmp_path: Path
) -> None:
    empty = LocalRedis(tmp_path / "redis-empty", own_redis.port, durable=True)
    shop = projecting_shop(postgres_url, commands, own_redis, prefix, tmp_path / "p.log", 11)
    with shop as (workload, view, projector):
        try:
            before = dump(view)
            own_redis.stop()
            empty.start()
            assert view.positions() == {}
            wait_until_caught_up(view, commands, projector)
            assert dump(view) == before
            assert projector.stop() == 0, projector.log()
            compare_with_replay(postgres_url, view, workload)
        finally:
            empty.stop()


def test_a_postgres_restart_under_the_idle_projector_is_retried(
    services_dir: Path, redis_server: str, prefix: str, tmp_path: Path
) -> None:
    server = LocalPostgres(
        services_dir / f"pg-outage-{uuid.uuid4().hex[:8]}", free_port(), durable=False
    )
    server.start()
    env = eventsourcing_env(Settings(), server.url)
    workload = Workload(Commands(env), random.Random(13))
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), view_prefix(prefix))
    projector = projector_process(server.url, redis_server, prefix, tmp_path / "projector.log", 50)
    try:
        workload.open_shop(sellers=3, products=12)
        workload.run(800)
        projector.start()
        wait_until_caught_up(view, workload.commands, projector)
        pid = projector.process.pid if projector.process else None
        workload.commands.close()
        server.stop()
        poll("the projector retrying the log", retried(projector), projector)
        server.start()
        workload.commands = Commands(env)
        workload.run(500)
        wait_until_caught_up(view, workload.commands, projector)
        assert projector.alive() and projector.process and projector.process.pid == pid
        assert projector.stop() == 0, projector.log()
        compare_with_replay(server.url, view, workload)
    finally:
        if projector.alive():
            projector.kill()
        view.clear()
        with contextlib.suppress(Exception):
            workload.commands.close()
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


def test_sigterm_while_redis_is_down_stops_the_projector_promptly(
    postgres_url: str, commands: Commands, own_redis: LocalRedis, prefix: str, tmp_path: Path
) -> None:
    workload = Workload(commands, random.Random(17))
    workload.open_shop(sellers=1, products=3)
    view = RedisProductDetailView(redis.Redis.from_url(own_redis.url), view_prefix(prefix))
    projector = projector_process(postgres_url, own_redis.url, prefix, tmp_path / "projector.log")
    projector.start()
    try:
        wait_until_caught_up(view, commands, projector)
        own_redis.stop()
        poll("the projector retrying", retried(projector), projector)
        started = time.monotonic()
        assert projector.stop() == 0, projector.log()
        assert time.monotonic() - started < 10
    finally:
        if projector.alive():
            projector.kill()


def test_redis_out_of_memory_is_retried_and_the_projector_catches_up_once_memory_is_raised(
    postgres_url: str, commands: Commands, own_redis: LocalRedis, prefix: str, tmp_path: Path
) -> None:
    shop = projecting_shop(postgres_url, commands, own_redis, prefix, tmp_path / "p.log", 19)
    with shop as (workload, view, projector):
        ballast = f"{prefix}-ballast"
        try:
            pid = projector.process.pid if projector.process else None
            before = view.positions()
            view.client.set(ballast, b"x" * 2_000_000)  # over the limit: every write is refused
            view.client.config_set("maxmemory-policy", "noeviction")
            view.client.config_set("maxmemory", "1mb")
            workload.run(300)
            poll("the projector retrying", retried(projector), projector)
            assert view.positions() == before  # nothing half-written while out of memory
            view.client.config_set("maxmemory", "0")
            view.client.delete(ballast)
            wait_until_caught_up(view, commands, projector)
            assert projector.alive() and projector.process and projector.process.pid == pid
            assert "OutOfMemoryError" in projector.log()
            assert projector.stop() == 0, projector.log()
            compare_with_replay(postgres_url, view, workload)
        finally:
            view.client.config_set("maxmemory", "0")
            view.client.delete(ballast)
            view.clear()
